"""One widget per file. main_window.MainWindow assembles them."""
