"""One module per resource: parse & validate -> call a domain with current_uow() -> serialise."""
