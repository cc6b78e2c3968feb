"""Named blob stores per tenant: placement and data residency (``placement``), and moving
a tenant's blobs from store to store (``migrate``)."""
