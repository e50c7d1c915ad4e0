from acme_platform import InvalidInput


class InvalidTitle(InvalidInput):
    code = "skewdemo.invalid_title"
    title = "Invalid title"
