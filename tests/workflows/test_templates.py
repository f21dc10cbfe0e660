"""Message templates: placeholders, fallbacks, and nothing else."""

from __future__ import annotations

import pytest

from workflows.templates import Template, TemplateError

CONTEXT = {
    "contact": {"name": "Ada", "tier": "VIP", "member": True, "tags": ["a", "b"]},
    "call": {"from": "+15550001111", "duration": 42},
    "schedule": {"next_open": "Monday at 9:00"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {{contact.name}}!", "Hi Ada!"),
        ("Hi {{ contact.name }}, we missed {{call.from}}.", "Hi Ada, we missed +15550001111."),
        ("We open {{schedule.next_open}}.", "We open Monday at 9:00."),
        ("Hi {{contact.nickname | there}}!", "Hi there!"),
        ("Member: {{contact.member}}, {{call.duration}}s", "Member: yes, 42s"),
        ("Tags: {{contact.tags|none}}", "Tags: a, b"),
        ("{{contact.name.first | friend}}", "friend"),
        ("No placeholders at all.", "No placeholders at all."),
        ("안녕하세요 {{contact.name}}님", "안녕하세요 Ada님"),
    ],
)
def test_render(text: str, expected: str) -> None:
    assert Template.parse(text).render(CONTEXT) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hi {{contact.name", "column 4: '{{' and '}}' must come in pairs"),
        ("Hi }} there", "column 4: '{{' and '}}' must come in pairs"),
        (
            "{{ __import__('os') }}",
            "column 1: {{ __import__('os') }} must name a value such as {{contact.name}}",
        ),
        (
            "{{contact.name()}}",
            "column 1: {{contact.name()}} must name a value such as {{contact.name}}",
        ),
        ("{{}}", "column 1: {{}} must name a value such as {{contact.name}}"),
        (
            "Hi {{secrets.token}}",
            "column 4: unknown name 'secrets': use one of call, contact, schedule",
        ),
    ],
)
def test_bad_templates_say_where(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as raised:
        Template.parse(text, roots=["contact", "call", "schedule"])
    assert str(raised.value) == message


def test_paths_are_known_after_parsing() -> None:
    template = Template.parse("{{contact.name}} {{call.from | ?}}")
    assert template.paths == (("contact", "name"), ("call", "from"))
