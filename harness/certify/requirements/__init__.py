"""One module per requirement; each defines REQUIREMENT (see harness.certify.requirement)."""
