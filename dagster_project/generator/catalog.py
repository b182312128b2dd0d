"""Static vocabulary for the demo world: orgs, people, clients, topics and note texts.

Kept apart from the story logic so the stories read as behaviour, and so the texts can grow without
touching the state machines. Everything here is a plain tuple: iteration order is fixed, which the
generator's determinism relies on.
"""

from __future__ import annotations

# (org_id, IANA time zone, email domain). "UTC" is written with a `Z` suffix, the others with their
# RFC 3339 offset (DST-aware: America/Chicago is -05:00 in October and -06:00 after 1 November).
ORGS: tuple[tuple[str, str, str], ...] = (
    ("acme-corp", "America/Chicago", "acme-corp.com"),
    ("globex", "Europe/Berlin", "globex.de"),
    ("initech", "UTC", "initech.io"),
    ("umbrella", "Asia/Tokyo", "umbrella.co.jp"),
    ("hooli", "America/Los_Angeles", "hooli.com"),
    ("stark-industries", "Asia/Kolkata", "stark.in"),
    ("wayne-enterprises", "America/New_York", "wayne-ent.com"),
    ("wonka", "Australia/Sydney", "wonka.com.au"),
    ("cyberdyne", "America/Sao_Paulo", "cyberdyne.com.br"),
    ("soylent", "Europe/London", "soylent.co.uk"),
    ("tyrell", "Asia/Singapore", "tyrell.sg"),
    ("massive-dynamic", "Africa/Johannesburg", "massive-dynamic.co.za"),
)

FIRST_NAMES = (
    "maria",
    "james",
    "aisha",
    "chen",
    "lukas",
    "sofia",
    "david",
    "priya",
    "tom",
    "elena",
    "omar",
    "hannah",
    "kenji",
    "lucia",
    "noah",
    "fatima",
    "ben",
    "yuki",
    "carlos",
    "anna",
)
LAST_NAMES = (
    "lopez",
    "smith",
    "khan",
    "wei",
    "becker",
    "rossi",
    "cohen",
    "patel",
    "baker",
    "novak",
    "haddad",
    "schmidt",
    "tanaka",
    "garcia",
    "miller",
    "ali",
    "jones",
    "sato",
    "silva",
    "berg",
)
# Contact names carry non-ASCII letters on purpose: the files are UTF-8 end to end.
CONTACT_NAMES = (
    "José Álvarez",
    "Zoë Müller",
    "Søren Kierkegaard",
    "Amélie Laurent",
    "Jürgen Weiß",
    "Li Na",
    "Olga Ivanova",
    "Raj Malhotra",
    "Sarah O'Connor",
    "Björn Lindqvist",
    "Nadia Haddad",
    "Kwame Mensah",
    "Emma Thompson",
    "Diego Fernández",
    "Hiro Nakamura",
    "Chloé Dubois",
    "Ahmed Saleh",
    "Grace Kim",
)

CLIENT_PREFIXES = (
    "Northwind",
    "Contoso",
    "Blue Harbor",
    "Fabrikam",
    "Tailspin",
    "Wide World",
    "Proseware",
    "Litware",
    "Adventure Works",
    "Alpine Ski",
    "Coho",
    "Fourth Coffee",
    "Lucerne",
    "Margie's",
    "Trey",
    "Wingtip",
    "Graphic Design",
    "Southridge",
    "Humongous",
    "Woodgrove",
    "Bellows",
    "Datum",
    "Consolidated",
    "Relecloud",
    "Munson's",
    "Vanarsdel",
    "Nod",
    "Baldwin",
    "Kingfisher",
    "Redwood",
    "Silverline",
    "Granite",
    "Evergreen",
    "Summit",
    "Harborview",
    "Lakeshore",
    "Ironbridge",
    "Sunrise",
    "Westfield",
    "Crescent",
)
CLIENT_SUFFIXES = (
    ("Traders", "retail"),
    ("Health", "healthcare"),
    ("Logistics", "logistics"),
    ("Bank", "financial services"),
    ("Airlines", "aviation"),
    ("Importers", "wholesale"),
    ("Software", "technology"),
    ("Energy", "energy"),
    ("Cycles", "manufacturing"),
    ("Insurance", "insurance"),
    ("Foods", "food & beverage"),
    ("Pharma", "life sciences"),
    ("Telecom", "telecommunications"),
    ("Municipal Services", "public sector"),
    ("University", "education"),
    ("Motors", "automotive"),
    ("Hotels", "hospitality"),
    ("Mining", "mining"),
    ("Media", "media"),
    ("Capital", "financial services"),
    ("Robotics", "manufacturing"),
    ("Water Authority", "public sector"),
    ("Clinics", "healthcare"),
    ("Freight", "logistics"),
    ("Utilities", "energy"),
)
TLDS = (".com", ".io", ".de", ".co.uk", ".net", ".org")

TOPICS = (
    "data platform migration",
    "managed SOC services",
    "ERP rollout",
    "cloud cost review",
    "field service app",
    "warehouse automation",
    "CRM consolidation",
    "AI document processing",
    "network refresh",
    "payroll outsourcing",
    "customer portal rebuild",
    "data warehouse modernisation",
    "zero-trust rollout",
    "contact centre upgrade",
    "supply chain visibility",
    "mobile banking app",
)
TAGS = (
    "q4",
    "renewal",
    "strategic",
    "public-sector",
    "upsell",
    "new-logo",
    "partner-led",
    "rfp",
    "expansion",
    "competitive",
    "fast-track",
    "multi-year",
)
COMPETITORS = ("Vandelay Industries", "Initrode", "Hooli", "Sterling Cooper", "Dunder Mifflin", "Oscorp")
PARTNERS = ("Pied Piper", "Bluth Company", "Prestige Worldwide", "Gekko & Co", "Monarch Solutions")
CHANNELS = ("email", "call", "meeting", "linkedin", "chat")
REGIONS = ("EMEA", "the Nordics", "North America", "APAC", "the head office", "the pilot site")

SNIPPETS = {
    "email": (
        "Re: {topic}: could you send pricing for {n} seats?",
        "Following up on our chat about {topic}; budget approved for next quarter.",
        "RFP for {topic} attached, responses due in three weeks.",
    ),
    "call": (
        "Inbound call: {contact} asked about {topic}.",
        "{contact} called about a timeline for {topic}, wants a callback.",
    ),
    "ad": (
        "Clicked the {topic} campaign ad and downloaded the whitepaper.",
        "Ad lead: {topic} webinar signup.",
    ),
    "note": (
        "Met {contact} at the trade fair, interested in {topic}.",
        "Heard from a partner that they plan {topic}.",
    ),
    "web": (
        'Contact form: "We need help with {topic}"',
        "Pricing page visit x3, requested a demo of {topic}.",
    ),
    "referral": (
        "Referral from {partner}: {contact} is scoping {topic}.",
        "Existing client referred {contact} for {topic}.",
    ),
}
DISMISS_REASONS = ("spam", "not relevant", "duplicate inquiry", "student project", "existing ticket")

PREFERENCE_NOTES = (
    "Client prefers fixed pricing over time and materials.",
    "{contact} prefers morning meetings, before 10:00 their time.",
    "Prefers email over phone calls.",
    "Client prefers quarterly invoicing.",
    "Prefers a phased rollout starting with {region}.",
)
RISK_NOTES = (
    "Decision delayed due to Q4 budget freeze.",
    "Risk: incumbent {competitor} is offering a steep discount.",
    "Legal review may slip past the due date.",
    "Champion {contact} is leaving the company in December.",
    "Security questionnaire still outstanding, blocker for procurement.",
)
RISK_MITIGATION_NOTES = (
    "Risk mitigation: phased delivery with a go/no-go review after {region}.",
    "Mitigation plan shared: fixed-price pilot caps the client's exposure.",
    "Risk mitigation section added: named backup lead and weekly steering calls.",
    "Mitigated the delivery risk with partner {partner} as second team.",
)
DECISION_NOTES = (
    "Decided to bid with partner {partner}.",
    "Decided to lead with the managed-service option.",
    "Agreed to waive onboarding fees to win the pilot.",
    "Decided not to bid on the hardware lot.",
)
PLAIN_NOTES = (
    "Left a voicemail for {contact}.",
    "Sent two case studies and the product one-pager.",
    "Intro call went well; next step is a demo.",
    "Updated contact details after the call.",
    "Shared the draft statement of work.",
)
STATUS_NOTES = ("Waiting on procurement sign-off.", "Proposal under review by the client's board.")

LOST_REASONS = {
    "price": "Competitor came in {pct}% cheaper.",
    "timing": "Project pushed to the next fiscal year.",
    "competitor": "Incumbent {competitor} renewed.",
    "no_decision": "Client went quiet after the demo.",
    "scope": "Scope reduced below our minimum engagement.",
    "relationship": "Sponsor left; the new VP prefers another vendor.",
    "other": "Client merged with a partner firm and paused purchases.",
}
WON_REASONS = {
    "price": "Best value of the shortlist.",
    "relationship": "Strong relationship with the sponsor.",
    "scope": "Only bidder covering the full scope.",
    "other": "Strong references from two similar clients.",
}
CANDIDATE_ARCHIVE_REASONS = ("Not a fit", "Budget too small", "Client chose to build in-house")
NURTURE_REASONS = ("Not ready until next year", "Waiting for budget cycle")
HOLD_REASONS = ("Client reorganising", "Paused by sponsor")
MEMORY_SOURCES = (
    ("gong", "https://app.gong.io/call?id={n}", 0.7),
    ("crm-sync", "https://crm.example.com/records/{n}", 1.0),
    ("web-research", "https://news.example.com/articles/{n}", 0.4),
)
