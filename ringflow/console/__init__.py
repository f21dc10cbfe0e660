"""The admin console (``/console``): Ringflow's workflows seen and changed from one page."""
