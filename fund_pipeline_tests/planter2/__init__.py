"""A second planter, independent of `fund_pipeline.sample`'s: it edits a clean sample's workbooks with
openpyxl, with violations (and boundary controls that must not fire) chosen from the policy
(../shared/policy/RULES.md), and records the findings each one must produce."""
