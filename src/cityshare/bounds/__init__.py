"""What a reader may see of a dataset: its column classes (personal, sensitive…), the
bounded view each reader gets (columns, pseudonyms, rows, minimum group size) and the
live grants that set it. Below the catalogue, which applies it on every read, and below
``sharing/``, where grants and access requests are made (see docs/sharing.md)."""
