"""How results are shown, never how they are made: one module per kind of result.

``check`` (scenario × variant table, counterexamples, JSON, JUnit), ``lab``
(the conformance table and its JSON), ``campaign`` (a stored stress campaign's
crash buckets), ``html`` (a lab run's timeline), ``junit`` (the XML every CI
shows) and ``console`` (the rich console every command prints through).
"""
