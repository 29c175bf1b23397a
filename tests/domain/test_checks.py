"""Numbers read from a file must be finite: the walk names the path of the first NaN or infinity."""

import math

from changeflow.domain.checks import Refusal, first_non_finite


def test_the_first_nan_or_infinity_is_named_by_its_path():
    document = {"templates": [{"fields": {"x": {"min": 0, "max": math.nan}}}], "later": -math.inf}
    path, value = first_non_finite(document)
    assert path == "templates.0.fields.x.max" and math.isnan(value)
    assert first_non_finite([1.0, [2, math.inf]]) == ("1.1", math.inf)
    assert first_non_finite(math.inf) == ("(document)", math.inf)


def test_a_key_counts_and_finite_documents_pass():
    assert first_non_finite({math.inf: 1}) == ("inf", math.inf)
    assert first_non_finite({"a": [1, 2.5, "nan", None, True], "b": {"c": -1e308}}) is None


def test_a_refusal_is_a_value_error_that_carries_its_fix():
    refusal = Refusal("min 5 is above max 1", "swap them")
    assert isinstance(refusal, ValueError) and str(refusal) == "min 5 is above max 1" and refusal.fix == "swap them"
