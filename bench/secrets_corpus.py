"""A corpus of planted secrets and look-alikes, generated deterministically, for measuring the redactor.

Every value is drawn from a seeded random generator at build time, so nothing real is committed and nothing is tuned
to fixed strings: `build(seed)` with another seed gives other values in the same places. A file is made of snippets,
each either planted (its `{S:gen}` values must vanish from the redacted text) or a look-alike (the whole rendered
snippet must come out unchanged). `{x:gen}` fills in values that are neither.
"""

from __future__ import annotations

import base64
import random
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
WORDS = """amber anchor apple arrow autumn badger bamboo banjo barrel beacon birch biscuit blossom breeze bridge
bronze bubble butter cactus camera candle canyon carpet castle cedar cherry cinnamon citrus clover cobalt comet copper
coral cotton crystal dagger daisy desert dolphin dragon eagle ember falcon feather fern fiddle forest fossil garden
garlic ginger glacier granite harbor hazel helmet hickory honey horizon island ivory jacket jasmine jungle kettle
lantern lemon lilac lizard lobster maple marble meadow melon meteor mirror monkey mosaic mountain nectar nickel nutmeg
ocean olive orchid otter oyster paddle panther parrot pebble pepper pillow pine planet plum pocket poppy puzzle quartz
quill rabbit raven ribbon river rocket saddle salmon sapphire scarlet shadow silver sparrow spruce squirrel staple
summit sunflower thistle thunder tiger timber topaz tulip turtle velvet violet walnut willow window winter
zebra""".split()
SEPARATORS = ("-", "_", ".", "")


@dataclass
class CorpusFile:
    kind: str
    path: str
    text: str
    planted: list[tuple[str, str]] = field(default_factory=list)  # (value that must vanish, template it came from)
    lookalikes: list[str] = field(default_factory=list)  # snippets that must survive verbatim


def _s(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choices(alphabet, k=n))


def _words(rng: random.Random) -> str:
    """A dictionary-word password: `sunflower-meadow-river`, `maple_otter7`, `ThunderCobalt`."""
    words = rng.sample(WORDS, rng.randint(2, 4))
    if rng.random() < 0.4:
        words = [w.capitalize() for w in words]
    tail = rng.choice(["", "", str(rng.randint(1, 9999)), "!", "#" + str(rng.randint(1, 99))])
    return rng.choice(SEPARATORS).join(words) + tail


def _camel(rng: random.Random) -> str:
    return "".join(w.capitalize() for w in rng.sample(WORDS, rng.randint(2, 3))) + rng.choice(
        ["", str(rng.randint(1, 99))]
    )


def _pw(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.35:
        return _words(rng)
    if pick < 0.6:
        return _camel(rng)
    return _s(rng, rng.randint(10, 18), ALNUM + "!#%*+-_")


def _pwurl(rng: random.Random) -> str:  # a password that needs no escaping in a URL
    return rng.choice([_camel(rng), "-".join(rng.sample(WORDS, 2)) + str(rng.randint(1, 99)), _s(rng, 16)])


def _passphrase(rng: random.Random) -> str:
    return " ".join(rng.sample(WORDS, 4))


def _pem(rng: random.Random, escaped: bool) -> str:
    body = [_s(rng, 64, B64) for _ in range(8)] + [_s(rng, 40, B64) + "=="]
    nl = "\\n" if escaped else "\n"
    head, tail = "-----BEGIN PRIVATE" + " KEY-----", "-----END PRIVATE" + " KEY-----"
    return nl.join([head, *body, tail]) + nl


def _uuid(rng: random.Random) -> str:
    h = _s(rng, 32, HEX)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _jwt(rng: random.Random) -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    claims = base64.urlsafe_b64encode(f'{{"sub":"{rng.randint(1, 10**9)}","name":"{_camel(rng)}"}}'.encode())
    return f"{head}.{claims.decode().rstrip('=')}.{_s(rng, 43, ALNUM + '-_')}"


def _ssh_pub(rng: random.Random) -> str:
    return "AAAAC3NzaC1lZDI1NTE5AAAAI" + _s(rng, 43, B64)


GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "words": _words,
    "camel": _camel,
    "pw": _pw,
    "pwurl": _pwurl,
    "passphrase": _passphrase,
    "alnum24": lambda r: _s(r, 24),
    "alnum32": lambda r: _s(r, 32),
    "alnum36": lambda r: _s(r, 36),
    "alnum40": lambda r: _s(r, 40),
    "hex32": lambda r: _s(r, 32, HEX),
    "hex40": lambda r: _s(r, 40, HEX),
    "hex64": lambda r: _s(r, 64, HEX),
    "sha40": lambda r: _s(r, 40, HEX),
    "b64_40": lambda r: _s(r, 40, B64),
    "b64_43": lambda r: _s(r, 43, B64),
    "b64_44": lambda r: _s(r, 43, B64) + "=",
    "b64_64": lambda r: _s(r, 64, B64),
    "b64_88": lambda r: _s(r, 86, B64) + "==",
    "awssecret": lambda r: _s(r, 40, B64),
    "akia": lambda r: "AKIA" + _s(r, 16, string.ascii_uppercase + "234567"),
    "ghp": lambda r: "ghp_" + _s(r, 36),
    "glpat": lambda r: "glpat-" + _s(r, 20, ALNUM + "_-"),
    "xoxb": lambda r: f"xoxb-{_s(r, 12, string.digits)}-{_s(r, 13, string.digits)}-{_s(r, 24)}",
    "stripe": lambda r: "sk_" + "live_" + _s(r, 24),
    "aiza": lambda r: "AI" + "za" + _s(r, 35, ALNUM + "_-"),
    "npm": lambda r: "npm_" + _s(r, 36),
    "pypi": lambda r: "pypi-AgEIcHlwaS5vcmc" + _s(r, 60, ALNUM + "-_"),
    "openai": lambda r: "sk-" + "proj-" + _s(r, 58, ALNUM + "_-") + "T3Blbk" + "FJ" + _s(r, 58, ALNUM + "_-"),
    "slackhook": lambda r: f"T{_s(r, 10, string.ascii_uppercase + string.digits)}/B{_s(r, 10)}/{_s(r, 24)}",
    "discordhook": lambda r: f"{r.randint(10**17, 10**18)}/{_s(r, 68, ALNUM + '-_')}",
    "basic": lambda r: base64.b64encode(f"{r.choice(WORDS)}:{_pw(r)}".encode()).decode(),
    "pem": lambda r: _pem(r, False),
    "pemjson": lambda r: _pem(r, True),
    "jwt": _jwt,
    "uuid": _uuid,
    "sshpub": _ssh_pub,
    "hex6": lambda r: _s(r, 6, HEX),
    "lower8": lambda r: _s(r, 8, "abcdefghijkmnpqrstuvwxyz"),
    "int2": lambda r: str(r.randint(8, 64)),
    "int4": lambda r: str(r.randint(1000, 9999)),
    "long": lambda r: str(r.randint(10**17, 9 * 10**17)),
    "word": lambda r: r.choice(WORDS),
    "ver": lambda r: f"{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 20)}",
}
_FIELD = re.compile(r"\{([SLx]):(\w+)\}")


def _render(template: str, rng: random.Random) -> tuple[str, list[str]]:
    planted: list[str] = []

    def fill(m: re.Match[str]) -> str:
        value = GENERATORS[m.group(2)](rng)
        if m.group(1) == "S":
            planted.append(value)
        return value

    return _FIELD.sub(fill, template), planted


def build(seed: int = 0) -> list[CorpusFile]:
    """The corpus: one file per kind (FILES below), values drawn from `seed`."""
    rng = random.Random(seed)
    out: list[CorpusFile] = []
    for kind, path, snippets in FILES:
        f = CorpusFile(kind, path, "")
        parts: list[str] = []
        for role, template in snippets:
            text, planted = _render(template, rng)
            parts.append(text)
            if role == "S":
                f.planted += [(value, template) for value in planted]
            elif text not in f.lookalikes:
                f.lookalikes.append(text)
        f.text = "\n".join(parts) + "\n"
        out.append(f)
    return out


def evaluate(files: list[CorpusFile], redact: Callable[[str], str]) -> dict[str, dict[str, int]]:
    """Per kind and overall: planted, leaks, lookalikes, false positives (look-alike snippets changed)."""
    stats: dict[str, dict[str, int]] = {}
    for f in files:
        out = redact(f.text)
        row = stats.setdefault(f.kind, {"planted": 0, "leaks": 0, "lookalikes": 0, "false_positives": 0})
        row["planted"] += len(f.planted)
        row["leaks"] += sum(value in out for value, _ in f.planted)
        row["lookalikes"] += len(f.lookalikes)
        row["false_positives"] += sum(snippet not in out for snippet in f.lookalikes)
    total = {k: sum(r[k] for r in stats.values()) for k in ("planted", "leaks", "lookalikes", "false_positives")}
    return {**stats, "overall": total}


def failures(files: list[CorpusFile], redact: Callable[[str], str]) -> tuple[list[str], list[str]]:
    """The templates of leaked secrets and the look-alike snippets that changed, for debugging."""
    leaks: list[str] = []
    fps: list[str] = []
    for f in files:
        out = redact(f.text)
        leaks += [f"{f.kind}: {template.strip()}  [{value}]" for value, template in f.planted if value in out]
        fps += [f"{f.kind}: {snippet.strip()}" for snippet in f.lookalikes if snippet not in out]
    return leaks, fps


# ---------------------------------------------------------------- the snippets, one file per kind
# One snippet a line: "S " planted, "L " look-alike; "\n" inside a line is a line break in the snippet.

_PYTHON = r'''
S password = "{S:words}"
S DB_PASSWORD = "{S:camel}"
S DB_PASS = "{S:pw}"
S SECRET_KEY = os.getenv("SECRET_KEY", "{S:pw}")
S api_key = os.environ.get("API_KEY", "{S:alnum32}")
S DSN = f"postgresql://{user}:{S:pwurl}@{host}:5432/app"
S SLACK_WEBHOOK = "https://hooks.slack.com/services/{S:slackhook}"
S headers = {"Authorization": "Bearer {S:alnum40}"}
S client = Github("{S:ghp}")
S aws_secret_access_key = "{S:awssecret}"
S conn = psycopg2.connect(host="db", user="app", password="{S:words}")
S REDIS_URL = "redis://:{S:alnum24}@cache:6379/0"
S stripe.api_key = "{S:stripe}"
S session.auth = ("deploy", "{S:pw}")
S SIGNING_SALT = b"{S:b64_44}"
S PRIVATE_KEY = """{S:pem}"""
L password = getpass.getpass("Password: ")
L api_key = os.environ["API_KEY"]
L token = os.getenv("GITHUB_TOKEN", "")
L def connect(user: str, password: str | None = None) -> Conn:
L self.password = password
L EXPECTED_SHA256 = "{L:hex64}"
L request_id = "{L:uuid}"
L COMMIT = "{L:sha40}"
L DEFAULT_PASSWORD = "changeme"
L API_KEY = "<your-api-key>"
L max_tokens = {L:int4}
L TOKEN_URL = "https://oauth2.googleapis.com/token"
L password = request.form["password"]
L DSN = f"postgresql://{user}:{password}@{host}/{L:lower8}"
L assert hashlib.md5(b"{L:word}").hexdigest() == "{L:hex32}"
L token = tokens[{L:int2}]
L password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())
'''
_JS = r"""
S const password = "{S:words}";
S export const apiKey = "{S:alnum32}";
S const token = process.env.API_TOKEN || "{S:alnum40}";
S const dbUrl = "mongodb+srv://admin:{S:pwurl}@cluster0.{x:lower8}.mongodb.net/app";
S fetch(url, { headers: { Authorization: "Bearer {S:alnum40}" } });
S const slack = new WebClient("{S:xoxb}");
S const stripe = new Stripe("{S:stripe}");
S   clientSecret: "{S:alnum32}",
S const DISCORD_WEBHOOK = "https://discord.com/api/webhooks/{S:discordhook}";
S   auth: { user: "mailer", pass: "{S:camel}" },
S const firebaseConfig = { apiKey: "{S:aiza}" };
S headers["X-API-Key"] = "{S:alnum32}";
S const JWT_SECRET = process.env.JWT_SECRET ?? "{S:words}";
S const session = "{S:jwt}";
L const token = process.env.GITHUB_TOKEN;
L const auth = `Bearer ${token}`;
L const { password } = req.body;
L function login(user: string, password: string): Promise<Session> {
L   password: z.string().min(8),
L const integrity = "sha384-{L:b64_64}";
L   id: "{L:uuid}",
L   color: "#{L:hex6}",
L const apiKey = "YOUR_API_KEY";
L type Credentials = { username: string; password: string };
L const tokenCount = tokens.length;
L   apiUrl: "https://api.{x:lower8}.com/v1",
L const password = "";
L const PASSWORD_MIN = {L:int2};
"""
_JAVA = r"""
S private static final String DB_PASSWORD = "{S:words}";
S String password = "{S:camel}";
S props.setProperty("password", "{S:pw}");
S dataSource.setPassword("{S:words}");
S String token = System.getenv().getOrDefault("API_TOKEN", "{S:alnum32}");
S     .header("Authorization", "Bearer {S:alnum40}")
S String url = "jdbc:postgresql://db:5432/app?user=app&password={S:pwurl}";
S @Value("${db.password:{S:pw}}")
S AWSCredentials creds = new BasicAWSCredentials("{S:akia}", "{S:awssecret}");
S private String apiKey = "{S:alnum32}";
S config.put("client_secret", "{S:alnum32}");
S static final String SMTP_PASS = "{S:pw}";
L private final String password;
L public void setPassword(String password) { this.password = password; }
L String password = System.getenv("DB_PASSWORD");
L @Value("${db.password}")
L private static final long serialVersionUID = {L:long}L;
L String traceId = "{L:uuid}";
L if (token == null || token.isEmpty()) {
L String hash = DigestUtils.sha256Hex(input); // e.g. {L:hex64}
L public static final String PASSWORD_PARAM = "password";
L char[] password = console.readPassword("Password: ");
L private static final String TOKEN_HEADER = "X-Auth-Token";
L String apiKey = props.getProperty("api.key");
"""
_GO = r"""
S const dbPassword = "{S:words}"
S password := "{S:camel}"
S viper.SetDefault("database.password", "{S:pw}")
S req.Header.Set("Authorization", "Bearer {S:alnum40}")
S db, err := sql.Open("postgres", "postgres://app:{S:pwurl}@localhost:5432/app?sslmode=disable")
S token := "{S:ghp}"
S 	APIKey: "{S:alnum32}",
S var webhookURL = "https://hooks.slack.com/services/{S:slackhook}"
S client := openai.NewClient("{S:openai}")
S 	ClientSecret: "{S:alnum32}",
S os.Setenv("DB_PASS", "{S:pw}")
L password := os.Getenv("DB_PASSWORD")
L func (c *Client) Token() (string, error) {
L req.Header.Set("Authorization", "Bearer "+token)
L 	Password string `json:"password"`
L const sum = "{L:hex64}"
L // commit {L:sha40}
L id := uuid.MustParse("{L:uuid}")
L if password == "" {
L tokenTTL := {L:int4} * time.Second
L 	DSN: fmt.Sprintf("postgres://%s:%s@%s/app", user, password, host),
L 	APIKey: os.Getenv("API_KEY"),
L var ErrBadToken = errors.New("invalid token")
"""
_YAML = r"""
S database:\n  password: {S:words}
S   DB_PASSWORD: "{S:camel}"
S     environment:\n      - POSTGRES_PASSWORD={S:pw}
S   api_key: {S:alnum32}
S   token: {S:glpat}
S   webhook_url: https://hooks.slack.com/services/{S:slackhook}
S   url: https://deploy:{S:pwurl}@registry.{x:lower8}.io/v2/
S   client_secret: '{S:alnum32}'
S   secretKey: {S:b64_40}
S stringData:\n  password: {S:words}
S   smtp_pass: {S:pw}
S       MYSQL_ROOT_PASSWORD: {S:camel}
S tls:\n  key: |\n    {S:pem}
L   password: ${DB_PASSWORD}
L   token: ${{ secrets.GITHUB_TOKEN }}
L   secretName: {L:lower8}-tls
L   image: nginx@sha256:{L:hex64}
L   password: "{{ .Values.db.password }}"
L   max_tokens: {L:int4}
L   auth: basic
L   commit: {L:sha40}
L   uid: {L:uuid}
L   passwordFile: /run/secrets/db_password
L   tokenUrl: https://auth.{x:lower8}.com/oauth/token
L   color: "#{L:hex6}"
L   existingSecret: {L:lower8}-credentials
"""
_TOML = r"""
S password = "{S:words}"
S [database]\npass = "{S:pw}"
S api_token = "{S:alnum40}"
S url = "redis://:{S:alnum24}@cache:6379/0"
S webhook = "https://discord.com/api/webhooks/{S:discordhook}"
S secret_key = "{S:camel}"
S DB_PASSWORD = "{S:camel}"
S token = "{S:npm}"
S auth_header = "Bearer {S:alnum40}"
S dsn = "mysql://root:{S:pwurl}@db:3306/shop"
L checksum = "{L:hex64}"
L rev = "{L:sha40}"
L password = ""
L token_env = "GITHUB_TOKEN"
L hash = "sha256:{L:hex64}"
L max_tokens = {L:int4}
L password = "${DB_PASSWORD}"
L id = "{L:uuid}"
L api_key = "<your-key>"
L files = [{file = "pkg-{L:ver}-py3-none-any.whl", hash = "sha256:{L:hex64}"}]
"""
_INI = r"""
S spring.datasource.password={S:words}
S db.pass = {S:pw}
S [smtp]\npassword = {S:camel}
S auth_token = {S:alnum32}
S jdbc.url=jdbc:mysql://db:3306/app?user=root&password={S:pwurl}
S mail.smtp.password: {S:words}
S api.key={S:alnum32}
S aws_secret_access_key = {S:awssecret}
S sonar.login={S:hex40}
S oauth.client.secret={S:alnum32}
L spring.datasource.password=${DB_PASSWORD}
L password =
L token.expiry.seconds={L:int4}
L auth.method = oauth2
L commit = {L:sha40}
L password.min.length={L:int2}
L keystore.path=/etc/ssl/{L:lower8}.jks
L secret.name = {L:lower8}-secret
L api.url=https://api.{x:lower8}.com/v2
L session.id.length={L:int2}
L md5 = {L:hex32}
"""
_SHELL = r"""
S export DB_PASSWORD="{S:words}"
S curl -u admin:{S:pwurl} https://ci.{x:lower8}.io/api/json
S curl -H "Authorization: Bearer {S:alnum40}" https://api.{x:lower8}.com/v1/me
S PGPASSWORD={S:pw} psql -h db -U app
S : "${API_KEY:={S:alnum32}}"
S DB_PASS=${DB_PASS:-{S:pw}}
S git clone https://deploy:{S:ghp}@github.com/{x:lower8}/app.git
S curl "https://api.{x:lower8}.com/v1/items?api_key={S:alnum32}"
S docker login -u ci -p {S:pw} registry.{x:lower8}.io
S export GITLAB_TOKEN={S:glpat}
S mysql -uroot -p{S:pwurl} app < dump.sql
S sshpass -p '{S:words}' ssh deploy@{x:lower8}.internal
L export API_KEY=${API_KEY}
L read -rs PASSWORD
L curl -u "$USER:$PASSWORD" https://ci.{x:lower8}.io/api/json
L curl -H "Authorization: Bearer $TOKEN" https://api.{x:lower8}.com/v1/me
L sha256sum -c <<< "{L:hex64}  app.tar.gz"
L DB_PASS=${DB_PASS:-}
L : "${API_KEY:?API_KEY is required}"
L git checkout {L:sha40}
L echo "$PASSWORD" | docker login -u ci --password-stdin registry.{x:lower8}.io
L TOKEN=$(vault kv get -field=token secret/ci)
L export PASSWORD_FILE=/run/secrets/db
"""
_DOCKERFILE = r"""
S ENV DB_PASSWORD={S:words}
S ENV API_KEY {S:alnum32}
S ARG NPM_TOKEN={S:npm}
S RUN curl -u deploy:{S:pwurl} -o app.tgz https://artifacts.{x:lower8}.io/app.tgz
S RUN echo "//registry.npmjs.org/:_authToken={S:alnum36}" > .npmrc
S ENV MYSQL_ROOT_PASSWORD="{S:camel}"
S RUN git clone https://oauth2:{S:glpat}@gitlab.com/{x:lower8}/app.git
S ENV SECRET_KEY_BASE={S:hex64}
S RUN pip install --index-url https://__token__:{S:pypi}@pypi.{x:lower8}.io/simple app
S ENV AWS_SECRET_ACCESS_KEY={S:awssecret}
L FROM python:3.12-slim@sha256:{L:hex64}
L ARG NPM_TOKEN
L RUN --mount=type=secret,id=npm_token NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci
L ENV PASSWORD_FILE=/run/secrets/db_password
L LABEL org.opencontainers.image.revision={L:sha40}
L ENV TOKEN_TTL={L:int4}
L ENV API_KEY=""
L ARG BUILD_ID={L:uuid}
L RUN echo "{L:hex64}  /tmp/tool.tgz" | sha256sum -c -
L ENV DB_PASSWORD=${DB_PASSWORD}
"""
_JSON = r"""
S   "password": "{S:words}",
S   "apiKey": "{S:alnum32}",
S   "client_secret": "{S:alnum32}",
S   "ConnectionString": "Server=db;Database=app;User Id=sa;Password={S:pwurl};",
S   "webhook": "https://hooks.slack.com/services/{S:slackhook}",
S   "Authorization": "Basic {S:basic}",
S   "token": "{S:ghp}",
S   "private_key": "{S:pemjson}",
S   "dbPassword": "{S:camel}",
S   "secret": "{S:words}",
S   "refresh_token": "{S:alnum40}",
L   "integrity": "sha512-{L:b64_88}",
L   "resolved": "https://registry.npmjs.org/{L:lower8}/-/{L:lower8}-1.2.3.tgz",
L   "password": "",
L   "token": null,
L   "id": "{L:uuid}",
L   "sha": "{L:sha40}",
L   "passwordMinLength": {L:int2},
L   "color": "#{L:hex6}",
L   "apiKey": "${API_KEY}",
L   "password": {"type": "string", "minLength": 8},
L   "tokenizer_class": "GPT2Tokenizer",
L   "auth": "oauth2",
"""
_MARKDOWN = r"""
S Log in as `admin` with the password `{S:words}`.
S ```yaml\ndatabase:\n  password: {S:camel}\n```
S ```sh\ncurl -u ci:{S:pwurl} https://ci.example.com/api\n```
S ```sh\nexport OPENAI_API_KEY={S:openai}\n```
S ```http\nGET /v1/me HTTP/1.1\nAuthorization: Bearer {S:alnum40}\n```
S The webhook is https://hooks.slack.com/services/{S:slackhook} (do not share).
S Connect with `postgres://app:{S:pwurl}@db.internal:5432/app`.
S ```yaml\napi_key: {S:alnum32}\n```
S Set `DB_PASSWORD` to `{S:camel}` in production.
S API token: `{S:glpat}`
S ```toml\npassword = "{S:words}"\n```
L Set `API_KEY` to your key from the dashboard.
L The `password` argument is optional.
L Run `git checkout {L:sha40}` to reproduce.
L ```yaml\npassword: ${DB_PASSWORD}\n```
L Use a token with the `repo` scope.
L Checksum: `{L:hex64}`
L | token | string | The access token |
L Request IDs look like `{L:uuid}`.
L Add your SSH key (`ssh-ed25519 {L:sshpub} you@laptop`) to the server.
L password: the password of the database user
L See https://docs.{x:lower8}.com/auth/token for details.
"""
_RST = r"""
S The default password is ``{S:words}``.
S .. code-block:: yaml\n\n   password: {S:camel}\n
S :password: {S:pw}
S ::\n\n    export API_TOKEN={S:alnum40}\n
S Use the API key ``{S:alnum32}`` for the staging tenant.
S .. code-block:: bash\n\n   curl -H "Authorization: Bearer {S:alnum40}" https://api.example.com\n
S Connect to ``mysql://root:{S:pwurl}@db/app``.
S The admin passphrase is "{S:passphrase}".
S Set ``SECRET_KEY`` to ``{S:camel}``.
S .. code-block:: ini\n\n   [smtp]\n   password = {S:words}\n
L The ``password`` option sets the database password.
L :param password: the password to log in with
L :type token: str
L Tokens expire after {L:int4} seconds.
L Release {L:ver} (commit {L:sha40}).
L .. code-block:: yaml\n\n   password: ${DB_PASSWORD}\n
L See :ref:`auth-tokens` for how to create one.
L The key fingerprint is ``SHA256:{L:b64_43}``.
L Set ``API_KEY`` to the key shown in the console.
L The default password is empty.
"""
_XML = r"""
S <password>{S:words}</password>
S <property name="password" value="{S:camel}"/>
S <add key="ApiKey" value="{S:alnum32}" />
S <jdbc-url>jdbc:postgresql://db/app?user=app&amp;password={S:pwurl}</jdbc-url>
S <add name="Db" connectionString="Server=db;User Id=sa;Password={S:pwurl};" />
S <secretKey>{S:b64_40}</secretKey>
L <password>${env.DB_PASSWORD}</password>
L <sha1>{L:sha40}</sha1>
L <uuid>{L:uuid}</uuid>
L <token-ttl>{L:int4}</token-ttl>
L <property name="password" value="${db.password}"/>
L <input type="password" name="password" autocomplete="current-password">
L <keyAlias>{L:lower8}</keyAlias>
"""
_LOCKFILES = r"""
L "{L:lower8}@^1.2.0":\n  version "1.2.3"\n  resolved "https://registry.yarnpkg.com/{L:lower8}/-/x-1.2.3.tgz#{L:sha40}"\n  integrity sha512-{L:b64_88}
L github.com/{L:lower8}/{L:lower8} v1.{L:int2}.0 h1:{L:b64_44}
L github.com/{L:lower8}/{L:lower8} v1.{L:int2}.0/go.mod h1:{L:b64_44}
L {L:lower8}=={L:ver} \\\n    --hash=sha256:{L:hex64} \\\n    --hash=sha256:{L:hex64}
L       resolution: {integrity: sha512-{L:b64_88}}
L [[package]]\nname = "{L:lower8}"\nversion = "{L:ver}"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "{L:hex64}"
L {L:hex64}  dist/app-{L:ver}.tar.gz
L ssh-ed25519 {L:sshpub} ci@{L:lower8}
L <script src="https://cdn.{x:lower8}.net/lib.js" integrity="sha384-{L:b64_64}" crossorigin="anonymous"></script>
L <img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA{L:b64_88}">
L {"name": "{L:lower8}", "version": "{L:ver}", "shasum": "{L:sha40}"}
L etag: "{L:hex32}"
"""
FILES: list[tuple[str, str, list[tuple[str, str]]]] = [
    (kind, path, [(line[0], line[2:].replace("\\n", "\n")) for line in block.strip("\n").split("\n")])
    for kind, path, block in [
        ("python", "app/settings.py", _PYTHON),
        ("js/ts", "web/src/config.ts", _JS),
        ("java", "src/main/java/com/acme/Db.java", _JAVA),
        ("go", "internal/config/config.go", _GO),
        ("yaml", "deploy/values.yaml", _YAML),
        ("toml", "config/app.toml", _TOML),
        ("ini/properties", "config/application.properties", _INI),
        ("shell", "scripts/deploy.sh", _SHELL),
        ("dockerfile", "Dockerfile", _DOCKERFILE),
        ("json", "config/app.json", _JSON),
        ("markdown", "docs/setup.md", _MARKDOWN),
        ("rst", "docs/deploy.rst", _RST),
        ("xml", "config/settings.xml", _XML),
        ("lockfiles", "lockfiles.txt", _LOCKFILES),
    ]
]
