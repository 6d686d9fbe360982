//! Inputs built to crash or exhaust reporter: partial cycles, huge subjects, deep or huge YAML, templated addresses that render invalid (SPEC §9, §11).
