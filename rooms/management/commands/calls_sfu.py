"""`manage.py calls_sfu`: a local Cloudflare Calls-compatible SFU, for development without a
Cloudflare account. Run it, then start Clinic Meet with the CALLS_API_URL it prints and the same
CALLS_APP_ID / CALLS_APP_SECRET. Loopback only; needs the `sfu` extra (rooms/sfu)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rooms.sfu import SFUDependencyError, require_dependencies

DEFAULT_PORT = 8787


class Command(BaseCommand):
    help = (
        "Run a local Cloudflare Calls-compatible SFU on loopback and print the CALLS_API_URL "
        "to use. App id and secret default to CALLS_APP_ID / CALLS_APP_SECRET."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="A loopback address to bind.")
        parser.add_argument(
            "--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free port)."
        )
        parser.add_argument("--app-id", help="The app id to accept (default: CALLS_APP_ID).")
        parser.add_argument(
            "--app-secret", help="The app secret to accept (default: CALLS_APP_SECRET)."
        )
        parser.add_argument(
            "--turn-key-id", help="TURN key id to accept (default: TURN_KEY_ID, else the app id)."
        )
        parser.add_argument(
            "--turn-key-token",
            help="TURN key API token (default: TURN_KEY_API_TOKEN, else the app secret).",
        )

    def handle(self, *args, **options) -> None:
        app_id = options["app_id"] or settings.CALLS_APP_ID
        app_secret = options["app_secret"] or settings.CALLS_APP_SECRET
        if not app_id or not app_secret:
            raise CommandError(
                "The SFU checks requests against an app id and secret, as Calls does: set "
                "CALLS_APP_ID and CALLS_APP_SECRET, or pass --app-id and --app-secret."
            )
        turn_key_id = options["turn_key_id"] or getattr(settings, "TURN_KEY_ID", "")
        turn_key_token = options["turn_key_token"] or getattr(settings, "TURN_KEY_API_TOKEN", "")
        if not (turn_key_id and turn_key_token):
            turn_key_id = turn_key_token = ""  # the app id and secret serve as the TURN key
        try:
            require_dependencies()
        except SFUDependencyError as error:
            raise CommandError(str(error)) from None

        from rooms.sfu.server import SFUConfig, serve_forever  # aiortc, imported only here

        try:
            config = SFUConfig(
                app_id=app_id,
                app_secret=app_secret,
                host=options["host"],
                port=options["port"],
                turn_key_id=turn_key_id,
                turn_key_token=turn_key_token,
            )
        except ValueError as error:
            raise CommandError(str(error)) from None

        def ready(server) -> None:
            self.stdout.write(f"Local Calls SFU for app {app_id} on {server.base_url}")
            self.stdout.write("Start Clinic Meet with the same CALLS_APP_ID/CALLS_APP_SECRET and")
            self.stdout.write(f"CALLS_API_URL={server.base_url}")
            self.stdout.write("Quit with CONTROL-C.")
            self.stdout.flush()

        try:
            serve_forever(config, on_ready=ready)
        except OSError as error:
            raise CommandError(f"Cannot serve on {config.host}:{config.port}: {error}") from None
