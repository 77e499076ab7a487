"""One module per lint rule. Each defines RULE (rule id), CAUSE (catalogue id), SEVERITY, CONFIDENCE and
`check(ctx) -> list[Finding]`. The registry is `traintriage.lint.RULES`."""
