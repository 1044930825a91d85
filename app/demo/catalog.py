"""The demo catalog: what a remote-patient-monitoring program ships."""

# (sku, name, model, manufacturer, device identifier type, size, orderable)
ITEMS = [
    ("BPM-7450", "Blood pressure monitor, cellular", "BP7450", "Omron", "serial", None, True),
    ("CUF-S", "Blood pressure cuff, small (17-22 cm)", "CS2-S", "Omron", None, "small", True),
    ("CUF-M", "Blood pressure cuff, standard (22-32 cm)", "CS2-M", "Omron", None, "standard", True),
    ("CUF-L", "Blood pressure cuff, large (32-42 cm)", "CS2-L", "Omron", None, "large", True),
    (
        "CUF-XL",
        "Blood pressure cuff, extra large (42-50 cm)",
        "CS2-XL",
        "Omron",
        None,
        "extraLarge",
        True,
    ),
    ("GLU-IG", "Glucometer, cellular", "iGlucose GM291", "Smart Meter", "imei", None, True),
    ("STR-50", "Glucose test strips, box of 50", "GS-50", "Smart Meter", None, None, True),
    ("LAN-100", "Lancets 30G, box of 100", "TL-30", "Smart Meter", None, None, True),
    ("CTL-SOL", "Glucose control solution", "CS-1", "Smart Meter", None, None, True),
    ("SCL-BT", "Weight scale, cellular", "BT004", "BodyTrace", "imei", None, True),
    ("POX-3230", "Pulse oximeter, Bluetooth", "WristOx 3230", "Nonin", "macAddress", None, True),
    ("THM-PT3", "Thermometer, infrared", "PT3", "iHealth", "serial", None, True),
    ("GWY-LTE", "Cellular gateway", "Tenovi Gateway", "Tenovi", "iccid", None, True),
    ("SIM-IOT", "Replacement SIM card", "IoT SIM", "Tenovi", "simCardNumber", None, True),
    ("PAD-ALC", "Alcohol prep pads, box of 100", "AP-100", "Medline", None, None, True),
    (
        "BPM-5100",
        "Blood pressure monitor, Bluetooth (discontinued)",
        "BP5100",
        "Omron",
        "serial",
        None,
        False,
    ),
]

# Stock at the demo's "Main warehouse": (units or devices received, reorder point). A few
# items are low, the replacement SIM cards are all held by an open order (out of stock),
# and every orderable device item has devices on the shelf with valid identifiers, so a
# demo order can be packed end to end.
STOCK = {
    "BPM-7450": (12, 4),
    "CUF-S": (9, 12),
    "CUF-M": (60, 15),
    "CUF-L": (40, 10),
    "CUF-XL": (12, 5),
    "GLU-IG": (12, 4),
    "STR-50": (400, 50),
    "LAN-100": (200, 30),
    "CTL-SOL": (8, 10),
    "SCL-BT": (12, 4),
    "POX-3230": (12, 4),
    "THM-PT3": (5, 6),
    "GWY-LTE": (14, 4),
    "SIM-IOT": (2, 5),
    "PAD-ALC": (30, 10),
}

# Serial patterns of demo items (sku: pattern, how demo serials begin): demo serials fit them.
SERIAL_PATTERNS = {"BPM-7450": (r"BP7450-[0-9A-Z]{4,8}", "BP7450-")}

# (name, archived, [(sku, count)])
KITS = [
    ("Hypertension starter kit", False, [("BPM-7450", 1), ("CUF-M", 1), ("GWY-LTE", 1)]),
    ("Diabetes starter kit", False, [("GLU-IG", 1), ("STR-50", 2), ("LAN-100", 1), ("CTL-SOL", 1)]),
    (
        "Heart failure kit",
        False,
        [("SCL-BT", 1), ("BPM-7450", 1), ("CUF-M", 1), ("POX-3230", 1), ("GWY-LTE", 1)],
    ),
    ("COPD kit", False, [("POX-3230", 1), ("THM-PT3", 1), ("GWY-LTE", 1)]),
    ("Diabetes refill kit", False, [("STR-50", 4), ("LAN-100", 2), ("PAD-ALC", 1)]),
    ("Hypertension kit, 2023 edition", True, [("BPM-5100", 1), ("CUF-M", 1)]),
]

# (name, active, phone, (line one, city, state, zip))
SITES = [
    (
        "Riverside Cardiology Clinic",
        True,
        "+16145550142",
        ("1200 Riverside Dr, Suite 300", "Columbus", "OH", "43215"),
    ),
    (
        "Lakeside Family Medicine",
        True,
        "+16085550187",
        ("45 Lakeshore Blvd", "Madison", "WI", "53703"),
    ),
    (
        "Mesa Endocrine Associates",
        True,
        "+14805550119",
        ("2150 E University Dr", "Tempe", "AZ", "85281"),
    ),
    (
        "Harbor Pulmonary Group",
        False,
        "+12075550163",
        ("88 Commercial St", "Portland", "ME", "04101"),
    ),
]

FIRST_NAMES = [
    "Maria",
    "James",
    "Linda",
    "Robert",
    "Patricia",
    "Michael",
    "Barbara",
    "William",
    "Elizabeth",
    "David",
    "Jennifer",
    "Richard",
    "Susan",
    "Joseph",
    "Dorothy",
    "Thomas",
    "Karen",
    "Charles",
    "Nancy",
    "Christopher",
    "Margaret",
    "Daniel",
    "Sandra",
    "Matthew",
    "Ruth",
    "Anthony",
    "Sharon",
    "Donald",
    "Helen",
    "Mark",
    "Carol",
    "Paul",
    "Betty",
    "Steven",
    "Joan",
    "Kenneth",
    "Gloria",
    "Harold",
    "Evelyn",
    "Walter",
]
LAST_NAMES = [
    "Garcia",
    "Johnson",
    "Nguyen",
    "Okafor",
    "Smith",
    "Hernandez",
    "Kowalski",
    "Brown",
    "Patel",
    "Williams",
    "O'Brien",
    "Rossi",
    "Kim",
    "Jackson",
    "Martinez",
    "Schmidt",
    "Davis",
    "Cohen",
    "Lopez",
    "Anderson",
    "Novak",
    "Thompson",
    "Wilson",
    "Moore",
    "Taylor",
    "Chen",
    "Baker",
    "Murphy",
    "Rivera",
    "Ward",
    "Brooks",
    "Price",
    "Foster",
    "Sanders",
    "Hughes",
    "Reyes",
    "Bennett",
    "Castillo",
    "Fischer",
    "Yamamoto",
]
STREETS = [
    "Maple Ave",
    "Oak St",
    "Cedar Ln",
    "Elm St",
    "Pine Rd",
    "Birch Way",
    "Walnut St",
    "Chestnut Dr",
    "Willow Ct",
    "Spruce St",
    "Hickory Ln",
    "Sycamore Ave",
]
# (city, state, zip, area code)
CITIES = [
    ("Columbus", "OH", "43204", "614"),
    ("Dublin", "OH", "43017", "614"),
    ("Madison", "WI", "53711", "608"),
    ("Middleton", "WI", "53562", "608"),
    ("Tempe", "AZ", "85282", "480"),
    ("Mesa", "AZ", "85201", "480"),
]

USERS = [
    # (email, password, role, first name, last name)
    ("coordinator@orderly.example", "demo-coordinator", "coordinator", "Maria", "Lopez"),
    ("fulfillment@orderly.example", "demo-fulfillment", "fulfillment", "Sam", "Fulton"),
    ("admin@orderly.example", "demo-admin", "admin", "Alex", "Admin"),
]

# Fixed, so that the README's curl example works as written. Demo data only.
API_KEY = "ok_demo_local_only_5b1f0c9e"
