import pytest

from workspace.services import canned_response_render


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "Hi {{contact.name}}, {{agent.name}} here about #{{conversation.id}}.",
            "Hi Ada Lovelace, Grace here about #42.",
        ),
        ("Hi {{ contact.name }}!", "Hi Ada Lovelace!"),
        ("{{contact.name}} and {{contact.name}}", "Ada Lovelace and Ada Lovelace"),
        (
            "Order {{order.id}} for {{contact.email}}",
            "Order {{order.id}} for {{contact.email}}",
        ),
        ("{% if x %}{{ 7*7 }}{% endif %}", "{% if x %}{{ 7*7 }}{% endif %}"),
        ("<b>{{agent.name}}</b> &amp;", "<b>Grace</b> &amp;"),
        ("{contact.name} {{contact.name", "{contact.name} {{contact.name"),
        ("No variables at all.", "No variables at all."),
    ],
    ids=[
        "all-three",
        "spaces-inside-braces",
        "repeated",
        "unknown-variables-left-as-typed",
        "template-syntax-not-executed",
        "html-left-as-is",
        "not-quite-variables",
        "plain",
    ],
)
def test_render_fills_the_three_variables_and_nothing_else(content, expected):
    # given / when
    rendered = canned_response_render(
        content, contact_name="Ada Lovelace", agent_name="Grace", conversation_id=42
    )

    # then
    assert rendered == expected


def test_a_value_that_looks_like_a_variable_is_not_filled_again():
    # given: a contact who named themselves after a variable
    content = "Hi {{contact.name}}, this is {{agent.name}}."

    # when
    rendered = canned_response_render(
        content,
        contact_name="{{agent.name}} <script>alert(1)</script>",
        agent_name="Grace",
        conversation_id="7",
    )

    # then
    assert rendered == ("Hi {{agent.name}} <script>alert(1)</script>, this is Grace.")
