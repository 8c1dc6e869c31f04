"""The pure parts both apps use, below everything else: the UIS mnemonic catalogue
(`mnemonics`), rendering of bodies, URLs and headers (`rendering`), filter conditions
(`filters`, `filter_fields`), how deep JSON text nests (`nesting`) and which UIS event to
subscribe (`uis_events`). They import no model and nothing of the portal's apps (an
import-linter contract in pyproject.toml holds them to it), so they are tested without a
database (`make unit`)."""
