"""The mutation tool behind scripts/mutate (docs/testing.md): not tests themselves."""
