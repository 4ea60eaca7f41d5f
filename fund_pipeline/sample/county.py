"""A Huining-like county: its villages and households, deterministic by seed.

Village codes are assigned here (real 12-digit codes for Huining's villages are not public);
townships and their codes are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fund_pipeline.identifiers import check_characters
from fund_pipeline.reference import townships

KNOWN_VILLAGES = {
    "会师镇": "南什村 南咀村 西岩村 东河村 蒲杏村 高庄村 范湾村 稍岔村",
    "郭城驿镇": "驮营村 红堡子村 郭城驿村 八百户村 大羊营村 叶滩村 新堡子村 黑虎岔村",
    "河畔镇": "中滩村 河畔村 冯家堡村 两迎水村 车家川村 任王家村 半岔村 李家塬村",
    "大沟镇": "张屲村 大沟村 韩岔村 刘沟村 厍弆村 庄湾村 掌里村 郭庄村",
    "老君坡镇": "河口村 窎岔村 柳家岔村 沙家寨子村 文家岔村 谢家岔村 老君坡村 高石崖村",
}
_PLACE_STEMS = list("王李张刘陈杨赵黄周吴马何高罗郭苏魏牛焦")
_PLACE_ENDS = ["家岔", "家湾", "家塬", "家沟", "川", "家坪", "家咀", "家庄", "堡子", "家集", "家河", "家峴"]
SURNAMES = list("王李张刘陈杨赵黄周吴马何高罗郭苏魏牛焦汪董柴党翟韩")
GIVEN = list("建国明华军平志强文忠德海生福贵兰英秀芳梅霞玲红燕宝成旺喜")
VILLAGES_PER_TOWNSHIP = 10
TOTAL_VILLAGES = 284
POOR_VILLAGES = 128


@dataclass
class County:
    villages: pd.DataFrame  # township, township_code, village, village_code, is_poor_village, population, households
    households: pd.DataFrame  # household_id, head_name, household_size, township, village, village_code, is_poor, account_no


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    surname = rng.choice(SURNAMES, n)
    given = np.char.add(rng.choice(GIVEN, n), np.where(rng.random(n) < 0.6, rng.choice(GIVEN, n), ""))
    return np.char.add(surname, given)


def resident_ids(rng: np.random.Generator, n: int) -> pd.Series:
    """Unique, valid GB 11643 IDs for people born 1940-1995 in Huining (address 620422)."""
    first_day = np.datetime64("1940-01-01")
    days = 365 * 55
    picks = rng.choice(days * 999, size=n, replace=False)
    births = pd.to_datetime(first_day + (picks // 999).astype("timedelta64[D]")).strftime("%Y%m%d")
    sequence = pd.Series(picks % 999 + 1).astype(str).str.zfill(3)
    first17 = "620422" + pd.Series(births) + sequence
    return (first17 + check_characters(first17)).astype("string")


def build_county(seed: int, scale: float) -> County:
    rng = np.random.default_rng(seed)
    villages = _villages(rng)
    households = _households(rng, villages, scale)
    villages["households"] = villages["village_code"].map(households["village_code"].value_counts()).fillna(0).astype(int)
    return County(villages, households)


def _villages(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    extra = TOTAL_VILLAGES - VILLAGES_PER_TOWNSHIP * len(townships())
    for i, t in enumerate(townships()):
        count = VILLAGES_PER_TOWNSHIP + (1 if i < extra else 0)
        names = KNOWN_VILLAGES.get(t.name, "").split()
        stems = [s + e + "村" for s in _PLACE_STEMS for e in _PLACE_ENDS]
        for stem in rng.permutation(stems):
            if len(names) >= count:
                break
            if stem not in names:
                names.append(str(stem))
        for j, name in enumerate(names[:count]):
            rows.append((t.name, t.code, name, f"{t.code}{200 + j:03d}"))
    villages = pd.DataFrame(rows, columns=["township", "township_code", "village", "village_code"])
    poor = rng.choice(len(villages), POOR_VILLAGES, replace=False)
    villages["is_poor_village"] = False
    villages.loc[poor, "is_poor_village"] = True
    villages["population"] = rng.integers(700, 3400, len(villages))
    return villages


def _households(rng: np.random.Generator, villages: pd.DataFrame, scale: float) -> pd.DataFrame:
    """Rural households; about 28% are registered poor, most of them in poor villages."""
    n = max(int(round(136_000 * scale)), 400)
    weights = np.where(villages["is_poor_village"], 1.4, 1.0) * villages["population"]
    village_index = rng.choice(len(villages), n, p=weights / weights.sum())
    hh = villages.iloc[village_index][["township", "township_code", "village", "village_code", "is_poor_village"]].reset_index(drop=True)
    hh.insert(0, "household_id", resident_ids(rng, n))
    hh.insert(1, "head_name", person_names(rng, n))
    hh["household_size"] = rng.integers(1, 8, n)
    poor_probability = np.where(hh["is_poor_village"], 0.42, 0.12)
    hh["is_poor"] = rng.random(n) < poor_probability
    accounts = rng.choice(10**12, n, replace=False)
    hh["account_no"] = "6229" + "622422" + pd.Series(accounts).astype(str).str.zfill(12)  # 一折统 passbook
    return hh
