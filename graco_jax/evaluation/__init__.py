"""NoC evaluation: the click protocol on device, metrics, zoom-in inference, reports."""
