"""``GenomambaConfig``: the one home of every model default."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genomamba.errors import ConfigError
from genomamba.outputs import atomic_write_text, json_text
from genomamba.tokens import COMPLEMENT_MAP, NUCLEOTIDE_IDS, PAD_ID, VOCAB_SIZE

_COMBINE_MODES = ("add", "concat_proj")


# Field annotation -> (what the message asks for, the accepted type) for the type check of scalar fields.
_SCALAR_TYPES: dict[str, tuple[str, Any]] = {
    "int": ("an integer", numbers.Integral),
    "float": ("a number", numbers.Real),
    "bool": ("true or false", bool),
}


@dataclass
class GenomambaConfig:
    """Architecture hyper-parameters of :class:`~genomamba.models.GenomambaLM`.

    Variants:
        bidirectional: each Mamba layer runs a forward and a (padding-aware) reverse scan with
            *separate* weights, combined by ``bidirectional_combine`` ("add" sums them,
            "concat_proj" concatenates and projects back to the layer width).
        rc_equivariant: reverse-complement parameter sharing (RCPS, Schiff et al. 2024,
            "Caduceus"): hidden channels split in a forward half and an RC half; outputs for
            RC(x) equal channel-flipped, position-reversed outputs for x. Needs an even
            ``d_model``. The model then sees both strands (both directions) and must be
            trained with masked LM, not next-token prediction.
        ssm_periods: each entry p adds one complex state per channel to every Mamba layer, with
            transition exp(delta_t * a) * exp(2 pi i / p): a learned, input-dependent decay times
            an exact rotation of one turn per p bp, so the layer can keep a decaying period-p
            Fourier component of its input (Mamba-1's real decays cannot oscillate; Grazzi et al.
            2025). The state gets its own B and C columns and decay; it runs as two real scan
            states in a rotating frame (see :class:`~genomamba.models.mixer.MambaMixer`).
        relative_track: the model also reads a second input, ``track_ids`` (B, L): a related
            genome's base aligned to each position (A, C, G, T = 0..3, N = 4 where nothing is
            aligned; see ``genomamba make-relative-track``). The track's base at t + 1, the
            position predicted at t, is embedded by its own table and added to the token
            embedding at t, so the model stays causal in the genome's own bases while it sees
            what the relative has where it predicts (an alignment-aware LM in the spirit of
            GPN-MSA, Benegas et al. 2025, with one relative). The table starts at zero, so a
            track model initialised from a plain one computes the same function until trained.
            Causal models only. Called without a track, the model reads an all-N track, and only
            then can it stream or generate (streamed pieces would read N where the next piece's
            first track base belongs).
        attn_layers: indices of layers that are causal (sliding-window when ``attn_window``
            is set) multi-head attention with rotary position encoding instead of Mamba
            (Jamba-style hybrid).

    Execution (does not change results):
        cpu_chunk_len: on CPU, a causal model runs a sequence longer than this through the
            layers in chunks of this many tokens, carrying the streaming state (conv window,
            SSM state, attention window) from chunk to chunk, with gradients flowing through
            it. Outputs and gradients equal a one-shot pass to float tolerance; per-op working
            sets stay cache-sized, so time per token stays flat at long L. ``None`` or 0 turns
            it off; it is not used on CUDA, for bidirectional / rc_equivariant models or with
            full-attention layers (whose KV cache would grow with L).
    """

    d_model: int = 128
    n_layer: int = 4
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | str = "auto"
    # Token defaults: the vocabulary contract the tokenizer shares (genomamba.tokens).
    vocab_size: int = VOCAB_SIZE
    pad_vocab_size_multiple: int = 8
    tie_embeddings: bool = True
    pad_token_id: int = PAD_ID
    complement_map: list[int] = field(default_factory=lambda: list(COMPLEMENT_MAP))
    nucleotide_token_ids: list[int] = field(default_factory=lambda: list(NUCLEOTIDE_IDS))
    rms_norm_eps: float = 1e-5
    residual_in_fp32: bool = True
    conv_bias: bool = True
    proj_bias: bool = False
    dt_min: float = 1e-3
    dt_max: float = 1e-1
    dt_init_floor: float = 1e-4
    dt_scale: float = 1.0
    rescale_prenorm_residual: bool = True
    initializer_range: float = 0.02
    bidirectional: bool = False
    bidirectional_combine: str = "add"
    rc_equivariant: bool = False
    attn_layers: list[int] = field(default_factory=list)
    attn_window: int | None = None
    attn_heads: int = 4
    rope_base: float = 10000.0
    # Exact rotary periods (bp) that replace the lowest RoPE frequencies, e.g. [3] for codon phase.
    rope_periods: list[int] = field(default_factory=list)
    # Exact periods (bp) of complex-eigenvalue SSM states added to every Mamba layer, e.g. [3]
    # for codon phase; one complex state per entry (repeat a period for several decay rates).
    ssm_periods: list[int] = field(default_factory=list)
    # Read a related genome's aligned bases as a second input (see the docstring).
    relative_track: bool = False
    cpu_chunk_len: int | None = 4096

    def __post_init__(self) -> None:
        self._check_types()
        if self.dt_rank == "auto":
            self.dt_rank = math.ceil(self.d_model / 16)
        if not isinstance(self.dt_rank, int) or self.dt_rank < 1:
            raise ConfigError(f"dt_rank must be 'auto' or a positive int, got {self.dt_rank!r}")
        for name in ("d_model", "n_layer", "d_state", "d_conv", "expand", "vocab_size", "attn_heads"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.bidirectional_combine not in _COMBINE_MODES:
            raise ConfigError(
                f"bidirectional_combine must be one of {_COMBINE_MODES}, got {self.bidirectional_combine!r}"
            )
        if len(self.complement_map) != self.vocab_size or sorted(self.complement_map) != list(
            range(self.vocab_size)
        ):
            raise ConfigError(
                f"complement_map must be a permutation of range(vocab_size={self.vocab_size}), "
                f"got {self.complement_map!r}"
            )
        if any(self.complement_map[c] != i for i, c in enumerate(self.complement_map)):
            raise ConfigError(f"complement_map must be an involution, got {self.complement_map!r}")
        bad = [i for i in self.attn_layers if not 0 <= i < self.n_layer]
        if bad:
            raise ConfigError(f"attn_layers {bad} out of range for n_layer={self.n_layer}")
        self.attn_layers = sorted(set(int(i) for i in self.attn_layers))
        if self.attn_window is not None and self.attn_window < 1:
            raise ConfigError(f"attn_window must be None or >= 1, got {self.attn_window!r}")
        if self.cpu_chunk_len is not None and int(self.cpu_chunk_len) < 0:
            raise ConfigError(f"cpu_chunk_len must be None, 0 (off) or a positive int, got {self.cpu_chunk_len!r}")
        if self.relative_track and not self.is_causal:
            raise ConfigError(
                "relative_track needs a causal model (bidirectional=False, rc_equivariant=False): the track is read "
                "one position ahead of the base it helps predict"
            )
        width = self.d_model // 2 if self.rc_equivariant else self.d_model
        if self.rc_equivariant and self.d_model % 2:
            raise ConfigError(f"rc_equivariant needs an even d_model, got {self.d_model}")
        if self.attn_layers and width % self.attn_heads:
            raise ConfigError(f"attention width {width} is not divisible by attn_heads={self.attn_heads}")
        if self.attn_layers and (width // self.attn_heads) % 2:
            raise ConfigError(
                f"attention head size {width // self.attn_heads} must be even for rotary encoding"
            )

        if any(isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 2 for p in self.ssm_periods):
            raise ConfigError(f"ssm_periods must be integers >= 2 (bp), e.g. [3], got {self.ssm_periods!r}")
        self.ssm_periods = [int(p) for p in self.ssm_periods]
        if any(isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 2 for p in self.rope_periods):
            raise ConfigError(f"rope_periods must be integers >= 2 (bp), e.g. [3], got {self.rope_periods!r}")
        self.rope_periods = [int(p) for p in self.rope_periods]
        if self.attn_layers and len(self.rope_periods) > width // self.attn_heads // 2:
            raise ConfigError(
                f"{len(self.rope_periods)} rope_periods do not fit in {width // self.attn_heads // 2} rotary pairs "
                "per head; use fewer periods or fewer attn_heads"
            )

    def _check_types(self) -> None:
        """ConfigError naming the field whose value has the wrong type (``n_layer: "four"`` in a
        config.json), before any arithmetic on it fails with a message that names nothing."""
        for f in dataclasses.fields(self):
            kind = _SCALAR_TYPES.get(str(f.type).replace(" | None", ""))
            value = getattr(self, f.name)
            if kind is None or (value is None and str(f.type).endswith("| None")):
                continue
            want, types = kind
            if isinstance(value, bool) != (types is bool) or not isinstance(value, types):
                raise ConfigError(f"{f.name} must be {want}, got {value!r}")

    @property
    def is_causal(self) -> bool:
        """True when position t only sees tokens <= t (next-token LM, streaming, generate)."""
        return not (self.bidirectional or self.rc_equivariant)

    def check_track_input(self, track: object, model_name: object, option: str = "--track") -> None:
        """:class:`ConfigError` unless a relative track is given exactly when this model reads one
        (``track``: the track FASTA or None; ``model_name`` and ``option`` name them in the message)."""
        flag = option.startswith("-")  # a command-line option, else a config key
        if self.relative_track and track is None:
            raise ConfigError(
                f"{model_name} reads a relative track (config.relative_track); {'pass' if flag else 'set'} {option} "
                f"{'' if flag else 'to '}<the genome's track FASTA>, made with genomamba make-relative-track --fasta "
                "GENOME --relative RELATIVE --out TRACK.fa (the model card names the relative it was trained with)"
            )
        if track is not None and not self.relative_track:
            raise ConfigError(
                f"{option} {track}: {model_name} does not read a relative track; "
                + (f"drop {option}" if flag else f"set {option} to '' (or use a model trained with a relative track)")
            )

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_size_multiple
        return self.vocab_size if m <= 1 else -(-self.vocab_size // m) * m

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config dict") -> GenomambaConfig:
        """Build from a dict; unknown keys raise :class:`ConfigError` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"{source}: unknown GenomambaConfig key(s) {unknown}; valid keys are {sorted(known)}"
            )
        return cls(**d)

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise to a JSON string, also written to ``path`` when given."""
        text = json_text(self.to_dict(), indent=2, sort_keys=True)
        if path is not None:
            atomic_write_text(path, text + "\n", option="config")
        return text

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> GenomambaConfig:
        """Parse a JSON string or a path to a JSON file."""
        source = "config JSON"
        text = str(text_or_path)
        if isinstance(text_or_path, Path) or not text.lstrip().startswith("{"):
            source = str(text_or_path)
            try:
                text = Path(text_or_path).read_text()
            except OSError as e:
                raise ConfigError(f"{source}: cannot read config file ({e})") from e
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{source}: invalid JSON ({e}); fix or regenerate the file") from e
        if not isinstance(d, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(d).__name__}")
        return cls.from_dict(d, source=source)
