"""The vectorised GB 11643 check agrees with python-stdnum's reference implementation."""

import numpy as np
import pandas as pd
from stdnum.cn import ric

from fund_pipeline.identifiers import check_characters, resident_id_status
from fund_pipeline.sample.county import resident_ids


def test_check_characters_match_stdnum():
    rng = np.random.default_rng(7)
    prefixes = pd.Series(["620422" + f"{y}0{m}1{d}" + f"{s:03d}" for y, m, d, s in
                          zip(rng.integers(1940, 1999, 300), rng.integers(1, 9, 300), rng.integers(0, 9, 300),
                              rng.integers(1, 999, 300), strict=True)])
    ours = check_characters(prefixes).tolist()
    assert ours == [ric.calc_check_digit(p + "0") for p in prefixes]  # stdnum expects a full 18-character number


def test_generated_ids_are_valid_and_corruptions_are_caught():
    ids = resident_ids(np.random.default_rng(3), 500)
    assert (resident_id_status(ids) == "ok").all()
    corrupted = ids.str.slice(0, 17) + ids.str.slice(17).map({"1": "2"}).fillna("1")
    assert (resident_id_status(corrupted) == "checksum").all()


def test_status_of_odd_values():
    values = pd.Series(["6204**********0010", "620422400101001", "62042219401301001X", "abc", None])
    assert resident_id_status(values).tolist() == ["masked", "legacy15", "birth_date", "format", "missing"]
