"""Documents into passages: at headings, between paragraphs, never longer than the limit."""

from __future__ import annotations

from workflows.knowledge.split import MAX_PASSAGE, Passage, split


def test_markdown_is_cut_at_headings_with_their_path() -> None:
    text = (
        "Intro line.\n\n# Billing\n\nPay by card.\n\n## Refunds ##\n\nWithin 30 days.\n"
        "Keep the receipt.\n\n# Shipping\n\n```\n# not a heading\n\ncode\n```\n"
    )
    assert split(text) == [
        Passage(None, "Intro line."),
        Passage("Billing", "Pay by card."),
        Passage("Billing / Refunds", "Within 30 days.\nKeep the receipt."),
        Passage("Shipping", "```\n# not a heading\n\ncode\n```"),
    ]


def test_plain_text_has_no_headings() -> None:
    assert split("# One\n\nTwo\r\n\r\nThree", "text") == [Passage(None, "# One\n\nTwo\n\nThree")]


def test_paragraphs_are_packed_up_to_the_limit_and_long_ones_cut_between_sentences() -> None:
    short = [f"Short paragraph number {n}." for n in range(100)]
    passages = split("\n\n".join(short))
    assert all(len(p.text) <= MAX_PASSAGE for p in passages)
    assert "\n\n".join(p.text for p in passages) == "\n\n".join(short)
    sentence = "This sentence has some words in it. "
    long = split(sentence * 100)
    assert len(long) > 1
    assert all(len(p.text) <= MAX_PASSAGE for p in long)
    assert all(p.text.endswith("it.") for p in long)
    korean = split("환불은 구매 후 14일 이내에 신청할 수 있습니다. " * 100)
    assert all(len(p.text) <= MAX_PASSAGE and p.text.endswith("다.") for p in korean)
    endless = split("x" * (MAX_PASSAGE * 2 + 5))
    assert [len(p.text) for p in endless] == [MAX_PASSAGE, MAX_PASSAGE, 5]


def test_blank_documents_have_no_passages() -> None:
    assert split("") == []
    assert split("\n\n   \n# Only a heading\n") == []
