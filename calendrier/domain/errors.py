"""Domain errors: each door turns them into its own answer (form error, 409, CLI message)."""


class DomainError(Exception):
    """Base of the errors a person can be told about."""

    code = "error"


class OccurrenceFull(DomainError):
    code = "full"


class BookingClosed(DomainError):
    code = "closed"


class TooManySeats(DomainError):
    code = "too_many_seats"

    def __init__(self, maximum: int):
        super().__init__(maximum)
        self.maximum = maximum


class CancellationClosed(DomainError):
    code = "cancellation_closed"


class InvalidTransition(DomainError):
    """The booking or occurrence is not in a state that allows this change."""

    code = "invalid_state"


class NotFound(DomainError, LookupError):
    """No such booking or occurrence (doors answer 404)."""

    code = "not_found"


class CapacityBelowBookings(DomainError):
    """A capacity lower than the seats already confirmed: cancel bookings first."""

    code = "capacity_below_bookings"

    def __init__(self, confirmed: int):
        super().__init__(confirmed)
        self.confirmed = confirmed


class InvalidSeats(DomainError):
    """A seat count that is not allowed here (below 1, or more for the attendee)."""

    code = "invalid_seats"


class InvalidInput(DomainError):
    """Input that breaks a rule, with a message per field so doors can show field errors.

    ``errors`` maps a field name (the same names as the forms and the API use) to a
    list of messages; the messages are lazy translations, rendered in the reader's
    language when turned into text.
    """

    code = "invalid"

    def __init__(self, errors: dict[str, object]):
        self.errors: dict[str, list] = {
            field: list(messages) if isinstance(messages, list | tuple) else [messages]
            for field, messages in errors.items()
        }
        super().__init__(self.messages())

    def messages(self) -> dict[str, list[str]]:
        """The errors as plain text, in the current language (for JSON answers)."""
        return {field: [str(m) for m in messages] for field, messages in self.errors.items()}


class TooManyForAddress(DomainError):
    """This address was sent the booking emails of too many bookings in the last hour:
    the doors must not become a way to flood someone's inbox (see booking_limits)."""

    code = "too_many_for_address"
