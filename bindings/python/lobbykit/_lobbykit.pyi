# Type stubs of the compiled _lobbykit extension (bindings/python/src). The rest of the
# package is typed Python. Defaults of the option fields are the C++ ones (options.hpp,
# client.hpp); they are not restated here.
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple, overload

__version__: str
_live: Any

class Error(Exception): ...
class StartError(Error): ...

def in_callback() -> bool: ...

class Limits:
    _fields: ClassVar[Tuple[str, ...]]
    max_message_bytes: int
    max_chat_bytes: int
    max_name_chars: int
    max_lobby_name_chars: int
    max_password_bytes: int
    min_password_bytes: int
    rate_per_second: float
    rate_burst: float
    rate_flood_burst: float
    ping_interval_s: int
    pong_timeout_s: int
    auth_timeout_ms: int
    max_outbound_bytes: int
    chat_history: int
    lobby_expiry_ms: int
    resume_grace_ms: int
    session_ttl_ms: int
    idle_session_ttl_ms: int
    max_sessions: int
    max_sessions_per_address: int
    max_participants: int
    max_lobbies: int
    max_lobbies_per_session: int
    max_lobbies_per_address: int
    password_attempts: int
    password_lockout_ms: int
    argon2_memory_kib: int
    argon2_iterations: int
    max_http_body_bytes: int
    bot_status_interval_ms: int
    bot_silence_ms: int
    bot_reclaim_ms: int
    bot_offer_timeout_ms: int
    bot_join_timeout_ms: int
    bot_retry_ms: int
    bot_max_attempts: int
    bot_empty_lobby_ms: int
    max_bots_per_lobby: int
    max_dispatches: int
    max_providers: int
    max_provider_jobs: int
    max_bot_metadata_bytes: int
    allow_member_bots: bool
    def __init__(self, **fields: Any) -> None: ...
    def __copy__(self) -> "Limits": ...
    def __deepcopy__(self, memo: Dict[int, Any]) -> "Limits": ...

class ServerOptions:
    _fields: ClassVar[Tuple[str, ...]]
    host: str
    port: int
    store_path: str
    admin_token: str
    static_dir: str
    worker_threads: int
    provider_keys: List[str]
    limits: Limits
    def __init__(self, **fields: Any) -> None: ...
    def __copy__(self) -> "ServerOptions": ...
    def __deepcopy__(self, memo: Dict[int, Any]) -> "ServerOptions": ...

class ReconnectPolicy:
    _fields: ClassVar[Tuple[str, ...]]
    enabled: bool
    initial_delay_ms: int
    max_delay_ms: int
    max_attempts: int
    def __init__(self, **fields: Any) -> None: ...
    def __copy__(self) -> "ReconnectPolicy": ...
    def __deepcopy__(self, memo: Dict[int, Any]) -> "ReconnectPolicy": ...

class ClientOptions:
    _fields: ClassVar[Tuple[str, ...]]
    url: str
    token: str
    name: str
    password: str
    is_bot: bool
    reconnect: ReconnectPolicy
    request_timeout_ms: int
    connect_timeout_ms: int
    def __init__(self, **fields: Any) -> None: ...
    def __copy__(self) -> "ClientOptions": ...
    def __deepcopy__(self, memo: Dict[int, Any]) -> "ClientOptions": ...

# (code, message, field, retry_after_ms)
_ErrorTuple = Tuple[str, str, Optional[str], Optional[int]]

class Server:
    def __init__(self, options: ServerOptions) -> None: ...
    def start(self) -> None: ...
    def run(self) -> None: ...
    def stop(self) -> None: ...
    @property
    def port(self) -> int: ...
    def subscribe(self, callback: Callable[[str], Any]) -> int: ...
    def unsubscribe(self, id: int) -> None: ...
    def add_bot(self, lobby_id: str, kind: str, key: str, metadata_json: str) -> str: ...
    def remove_bot(self, lobby_id: str, key: str) -> str: ...
    def bots(self) -> str: ...
    def drain_bot_provider(self, provider_id: str) -> bool: ...
    def _stop_for_exit(self) -> None: ...

class Client:
    @overload
    def __init__(self, options: ClientOptions) -> None: ...
    @overload
    def __init__(self, server: Server, options: ClientOptions) -> None: ...
    def start(self) -> None: ...
    def run(self) -> None: ...
    def stop(self) -> None: ...
    def reconnect(self) -> None: ...
    @property
    def state(self) -> str: ...
    def snapshot_json(self) -> str: ...
    def subscribe(self, callback: Callable[[str], Any]) -> int: ...
    def unsubscribe(self, id: int) -> None: ...
    def request(self, type: str, data_json: str,
                callback: Callable[[Optional[_ErrorTuple], str], Any]) -> None: ...
    def request_blocking(self, type: str, data_json: str) -> Tuple[Optional[_ErrorTuple], str]: ...
    def _stop_for_exit(self) -> None: ...
