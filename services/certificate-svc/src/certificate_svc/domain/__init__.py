"""The certificate domain: the aggregate and its state machine, field rules and reminder rules, without I/O."""
