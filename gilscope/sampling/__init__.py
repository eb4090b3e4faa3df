"""Collection: workers' beacons, py-spy and psutil. Nothing here imports Textual."""
