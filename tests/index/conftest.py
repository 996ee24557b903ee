from __future__ import annotations

import pytest

from forge_mcp.index.embeddings import MiniLMEmbedder
from tests.conftest import GitRepo


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    """The real offline embedder, loaded once for the whole session."""
    embedder = MiniLMEmbedder()
    embedder.embed(["warm up"])
    return embedder


@pytest.fixture
def search_repo(make_repo) -> GitRepo:
    r = make_repo("shop")
    r.commit(
        "code",
        {
            "shop/cart.py": 'class Cart:\n    """A shopping cart."""\n\n    def add_item(self, sku, quantity=1):\n'
            '        """Add a product to the cart."""\n        self.items[sku] = self.items.get(sku, 0) + quantity\n\n'
            '    def total_price(self, prices):\n        """Sum the price of every item."""\n'
            "        return sum(prices[sku] * n for sku, n in self.items.items())\n",
            "shop/payment.py": 'def charge_credit_card(card_number, amount):\n    """Charge a credit card through the gateway."""\n'
            "    return gateway.charge(card_number, amount)\n\n\n"
            'def refund_payment(payment_id):\n    """Refund a captured payment."""\n    return gateway.refund(payment_id)\n',
            "web/render.ts": "export function renderInvoice(invoice: Invoice): string {\n  return `<h1>${invoice.id}</h1>`;\n}\n",
            "docs/README.md": "# Shop\n\nA tiny shop.\n\n## Payments\n\nCards are charged through the gateway.\n",
        },
    )
    return r
