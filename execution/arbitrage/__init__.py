"""Cross-exchange arbitrage, one job per module:

- ``profit``: exact profit of buying on one venue and selling on another, fees included; the input checks.
- ``sizing``: depth-aware sizing from two books, the venues' rules and inventory (``size_arbitrage``,
  ``find_opportunity``).
- ``legs``: one leg's intent, result and I/O, and settling it by client order id (never resent).
- ``unwind``: planning the trade that flattens a residual.
- ``outcome``: how the two legs ended, fills, flows, residual and realised profit (``ArbitrageResult``).
- ``executor``: ``execute_arbitrage`` / ``start_arbitrage``: both legs at once, the outcome, the unwind.

The seed's names stay importable from ``execution.arbitrage_executor``.

Fee policy (Binance-like venues charge a buyer's commission in the base asset): the sell leg sells exactly the amount
the buy leg buys, and the buyer's fee is carried as a known short of ``amount * buy_fee`` base per trade. It is
reported (``Opportunity.base_fee_exposure``, ``ArbitrageResult.base_fees``) and priced into every profit figure at
the buy price, so ``profit = amount * (sell * (1 - f_sell) - buy * (1 + f_buy))`` holds whichever asset the buy fee
is charged in. The unwind after a trade flattens what the legs bought minus what they sold (gross of fees), never the
fee carry, so after the unwind every outcome leaves the same known exposure: minus the base fees paid. The carry
accumulates over trades; flatten it from the position tracker's exposure (``plan_unwind(tracker.exposure()[base],
...)``) once it grows past the venue's minimum order.

No I/O happens here except through ``ArbitrageIO``; nothing here imports ccxt or ray.
"""
