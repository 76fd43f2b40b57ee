"""inflect decorates its engine with typeguard's @typechecked, which re-reads the module's SOURCE
at import (inspect.getsource); without the .py file next to the bytecode the import fails."""
module_collection_mode = "pyz+py"
