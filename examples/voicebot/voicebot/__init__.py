"""The speech half of the lobbykit voicebot example: offline command recognition
(PocketSphinx + a JSGF grammar), voice activity detection, resampling, espeak-ng synthesis,
an aiortc track that speaks, and the assistant's and reader's words. lobby.py wires them to
lobbykit's BotProvider and media mesh."""

from .audio import (RECOGNIZER_RATE, WEBRTC_RATE, FrameResampler, make_wav, parse_wav,
                    resample_pcm)
from .commands import (PHRASES, ChatLine, Command, Reply, Situation, chat_report,
                       command_for, reader_line, reply_to, speakable)
from .listener import PeerListener, SpeechService
from .recognizer import Recognition, Recognizer
from .track import FRAME_SAMPLES, SpeechTrack
from .tts import Synthesizer
from .vad import Segmenter, Utterance, VadSettings

__all__ = ["RECOGNIZER_RATE", "WEBRTC_RATE", "FrameResampler", "make_wav", "parse_wav",
           "resample_pcm", "PHRASES", "ChatLine", "Command", "Reply", "Situation",
           "chat_report", "command_for", "reader_line", "reply_to", "speakable",
           "PeerListener", "SpeechService", "Recognition", "Recognizer", "FRAME_SAMPLES",
           "SpeechTrack", "Synthesizer", "Segmenter", "Utterance", "VadSettings"]
