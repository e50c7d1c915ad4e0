"""One module per resource. Each exposes blueprint(spec): its routes, validated by that SpecTree.

A view parses and validates (spectree + schemas), calls domain functions with the request's unit of
work, and serialises. Nothing else: no SQL, no business rules.
"""
