"""A new password: length is the rule (15 to 200 characters of anything), and common ones and the email are refused."""

from __future__ import annotations

from services.dashboard.passwords import COMMON, problems

EMAIL = "ana.souza@example.com"


def refused(password: str) -> list[str]:
    return [problem.split(" (")[0].split(":")[0] for problem in problems(password, EMAIL)]


def test_length_is_the_rule_and_any_characters_count() -> None:
    assert refused("x7#kP2!mQ9zR4wL") == []  # 15
    assert refused("violet kettle pot") == []  # spaces, no digit, no capital: no composition rules
    assert refused("чай с лимоном и мёдом") == [] and refused("東京の夜は静かで美しい街並みです") == []
    assert refused("x7#kP2!mQ9zR4w") == ["must be at least 15 characters"]  # 14
    assert refused("correct horse battery staple " * 2 + "and a little more than sixty four") == []  # 91


def test_a_common_password_is_refused_also_in_capitals_or_padded_to_length() -> None:
    assert {"password", "qwerty", "1qaz2wsx3edc4rfv"} <= COMMON and len(COMMON) == 30_000
    for common in ("1qaz2wsx3edc4rfv", "PASSWORD1234567", "password1234567!", "!!!!!!!qwerty123", "123456789012345",
                   "ｐａｓｓｗｏｒｄ1234567"):
        assert refused(common) == ["is one of the most common passwords"], common
    assert refused("password") == ["must be at least 15 characters", "is one of the most common passwords"]
    assert refused("my password is long enough") == []  # a common word inside a longer one is fine


def test_a_short_piece_repeated_is_as_weak_as_the_piece() -> None:
    for repeated in ("passwordpassword", "aaaaaaaaaaaaaaa", "abcabcabcabcabc", "x" * 200):
        assert refused(repeated) == ["repeats a piece shorter than 15 characters"], repeated
    assert refused("tangerine skies, " * 2) == []  # a long enough piece, twice


def test_a_password_built_from_the_email_is_refused() -> None:
    for built in ("ana.souza@example.com", "Ana.Souza@Example.COM and more", "ana.souza2024!!!!!", "ANA.SOUZA123456789"):
        assert refused(built) == ["must not be built from your email address"], built
    assert refused("ana.souza2024!!!!!") != problems("ana.souza2024!!!!!", "someone.else@example.com")
    assert problems("someone.else@example.com", "") == []  # no email to compare with (it was invalid)
