"""The fulfilment lead's dashboard: the day at a glance, drawn on the server (SVG, no
script) from the areas' summary tables, each chart with its figures as a table."""
