"""A cash register (ECR) driving a tpesim terminal over the merchant API, standard library only.

Start the simulator, then run this against one of its Algerian terminals:

    tpesim serve --port 8080
    python docs/examples/ecr_client.py http://127.0.0.1:8080 DZAL0001

It makes three payments and closes the batch: a sale that is approved, one the issuer declines
(the magic amount 77,51 DA forces 51, insufficient funds) and one that gets no answer (77,99 DA:
the switch approves but stays silent, so the terminal reverses it), and prints what each gave.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from typing import Any


def call(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One API call; the decoded JSON answer. An HTTP error ends the run with its problem."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the simulator's, given by you
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as error:
        problem = json.load(error)
        why = f"{method} {path}: {error.code} {problem['title']}: {problem['detail']}"
        raise SystemExit(why) from None


def pay(base: str, terminal: str, amount_minor: int, card_id: str) -> Any:
    """Start a payment and wait for its outcome. The idempotency key makes a retry safe: sent
    again after a network error, the same key returns the same payment, never a second one."""
    body = {
        "amount_minor": amount_minor,  # minor units: 150000 centimes = 1 500,00 DA
        "currency": "DZD",
        "card_id": card_id,
        "idempotency_key": f"order-{uuid.uuid4()}",
    }
    return call(base, "POST", f"/v1/terminals/{terminal}/payments", body)


def main(base: str, terminal: str) -> dict[str, str]:
    """Run the three payments and the batch close; what each gave."""
    results = {}
    sale = pay(base, terminal, 150_000, "EDH-VALID")
    print(sale["receipt"])
    results["sale"] = sale["status"]
    declined = pay(base, terminal, 7_751, "EDH-VALID")
    results["decline"] = f"{declined['status']} {declined['response_code']}"
    timeout = pay(base, terminal, 7_799, "EDH-VALID")
    results["timeout"] = f"{timeout['status']} {timeout['reversal']}"
    batch = call(base, "POST", f"/v1/terminals/{terminal}/batch")
    results["batch"] = batch["response_code"]
    for what, gave in results.items():
        print(f"{what:8} {gave}")
    return results


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080",
         sys.argv[2] if len(sys.argv) > 2 else "DZAL0001")  # fmt: skip
