"""Errors that carry a message meant for a person (CLI exit 2, a UI st.error)."""


class UserError(Exception):
    """Bad input: the message names the problem and, where possible, the fix."""


class ConfigError(UserError):
    """A RunConfig field is invalid; `field` is its dotted path."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message

    def __reduce__(self):  # pickled across processes (a Ray task's error) with both arguments
        return type(self), (self.field, self.message)


class WeightsUnavailable(UserError):
    """Pretrained weights are neither bundled nor cached, and cannot be downloaded."""
