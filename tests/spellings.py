"""Other spellings of an IAM ARN, shared by the unit and attack tests of canonical
resolution: the ones IAM resolves to the same entity, and the ones it refuses."""

from __future__ import annotations


def case_variants(arn: str) -> list[str]:
    """The ARN with its resource name in other ASCII cases (all resolve to the same entity)."""
    head, _, name = arn.rpartition("/")
    return [f"{head}/{name.lower()}", f"{head}/{name.upper()}", f"{head}/{name.swapcase()}"]


def refused_spellings(arn: str, account: str) -> list[str]:
    """Spellings IAM refuses outright: the partition, the service or the resource type in
    another case, a region, another account length."""
    return [
        arn.replace("arn:aws:", "arn:AWS:"),
        arn.replace("arn:aws:", "arn:Aws:"),
        arn.replace("arn:aws:", "ARN:aws:"),
        arn.replace(":iam::", ":IAM::"),
        arn.replace(":policy/", ":POLICY/"),
        arn.replace(":policy/", ":Policy/"),
        arn.replace(":iam::", ":iam:us-east-1:"),
        arn.replace(f":{account}:", f":{account}0:"),
        arn.replace(f":{account}:", f":{account[:-1]}:"),
    ]
