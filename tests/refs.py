"""Public numbers in tests: what pages, URLs and the API show for a decision, sample,
sample item, inspection or job (app/security/public_ids.py). Needs an app context."""

from app.security.public_ids import internal_id, public_id


def ref(obj) -> int:
    """The public number of an object, or of an id."""
    return public_id(obj if isinstance(obj, int) else obj.id)


def row_id(number: int) -> int:
    """The database id that a public number (from a page or the API) names."""
    object_id = internal_id(number)
    assert object_id is not None, f"{number} is not a public number"
    return object_id
