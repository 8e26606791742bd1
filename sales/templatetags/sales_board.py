from django import template

from sales.board_cards import render_cards

register = template.Library()


@register.simple_tag(takes_context=True)
def board_cards(context, column):
    """The cards of one board column (sales.board_cards; the view gives ``card_texts``)."""
    return render_cards(
        column.cards, column, context["card_texts"], may_move=context.get("may_move", False)
    )
