//! Relays that misbehave in the ways TCP allows, and a sendmail that never ends: nothing duplicated, nothing unbounded, a dead relay costs one timeout (SPEC §9).
