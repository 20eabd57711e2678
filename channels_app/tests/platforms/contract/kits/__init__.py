"""The kits of the contract suite: one module per platform, each with a `KIT`.

A new platform adds its module here (and to `KITS`), its stand-in in
`sandbox/` and its fixtures with their expectation files."""

from channels_app.tests.platforms.contract.kits import (
    email,
    instagram,
    sms,
    telegram,
    webchat,
    whatsapp,
    x,
)
from channels_app.tests.platforms.contract.kits.base import Kit

KITS: dict[str, Kit] = {
    module.KIT.platform: module.KIT
    for module in (x, telegram, whatsapp, instagram, sms, email, webchat)
}
