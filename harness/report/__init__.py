"""Reports of a certification run, all built from the same results:
`summary.json` (the machine-readable record), `junit.xml`, `allure-results/`
and the terminal table."""
