"""The host driver against the simulated device (Verilator behind a pseudo-terminal).

`ref` and `sim` must agree bit for bit, and on the cycle counters; bad frames sent
through the raw link get an error status and leave the loaded layer working.
"""

from __future__ import annotations

import numpy as np
import pytest

from sw.device.payloads import LAYER_HEADER, RUN_HEADER, Counters, encode_layer, encode_run
from sw.device.protocol import HOST_SYNC, Op, Status, crc8, encode_request, pack
from sw.driver import Accelerator, DeviceError, DeviceGone, DeviceTimeout
from sw.kernel import LayerSpec, Requant, matmul
from sw.kernel.random_layer import random_product

MODES = [("uniform", {}), ("spx", {"spx_terms": 1}), ("spx", {"spx_terms": 2}), ("codebook", {})]


@pytest.mark.parametrize("index", range(len(MODES)), ids=[f"{m}-{e}" for m, e in MODES])
def test_random_layers_agree_bit_for_bit(sim, ref, index):
    mode, extra = MODES[index]
    rng = np.random.default_rng(100 + index)
    for _ in range(4):
        m, k, n = (
            int(v) for v in (rng.integers(1, 150), rng.integers(1, 200), rng.integers(1, 70))
        )
        product = random_product(rng, m, k, n, mode=mode, **extra)
        for acc in (sim, ref):
            acc.load_layer(product.spec, product.codes)
        y = sim.matmul(product.x)
        np.testing.assert_array_equal(y, ref.matmul(product.x))
        np.testing.assert_array_equal(y, matmul(product.x, product.codes, product.spec))


def test_narrow_layers_run_on_the_wider_core(sim):
    rng = np.random.default_rng(3)
    for mode, extra in MODES:
        product = random_product(rng, 9, 17, 5, mode=mode, act_bits=5, weight_bits=3, **extra)
        sim.load_layer(product.spec, product.codes)
        expected = matmul(product.x, product.codes, product.spec)
        np.testing.assert_array_equal(sim.matmul(product.x), expected)


def test_big_batches_are_chunked(sim):
    rng = np.random.default_rng(4)
    info = sim.identify()
    # Raw 32-bit outputs of 256 channels: the response limit, not m_max, sets the chunk.
    for m, n, requant in ((3 * info.m_max + 5, 7, True), (100, 256, False)):
        product = random_product(rng, m, 12, n, mode="spx", requant=requant)
        sim.load_layer(product.spec, product.codes)
        np.testing.assert_array_equal(
            sim.matmul(product.x), matmul(product.x, product.codes, product.spec)
        )


def test_cycle_counters_match_the_model(sim, ref):
    rng = np.random.default_rng(5)
    info = sim.identify()
    for m, k, n in ((info.m_max, 256, 64), (5, 3, 33), (17, 100, 9)):
        # 8-bit outputs: the result link keeps up, which the model assumes.
        product = random_product(rng, m, k, n, mode="uniform", requant=True)
        for acc in (sim, ref):
            acc.load_layer(product.spec, product.codes)
            acc.matmul(product.x)
        sim_counters, ref_counters = sim.counters(), ref.counters()
        assert sim_counters.stall_cycles == 0
        assert sim_counters.run_cycles == ref_counters.run_cycles, (m, k, n)


def test_results_stay_exact_under_output_back_pressure():
    """The harness holds the device's output back on random cycles: stalls grow, results
    do not change, and without stalls the cycle count is the model's."""
    rng = np.random.default_rng(11)
    product = random_product(rng, 40, 64, 48, mode="codebook", requant=True)  # 8-bit out
    expected = matmul(product.x, product.codes, product.spec)
    stalls = []
    for stall in (0.0, 0.3, 0.7):
        with Accelerator.open(f"sim:sim,stall={stall},seed=5") as acc:
            acc.load_layer(product.spec, product.codes)
            np.testing.assert_array_equal(acc.matmul(product.x[:20]), expected[:20])
            stalls.append(acc.counters().stall_cycles)
    assert stalls[0] == 0 < stalls[1] < stalls[2]
    with pytest.raises(ValueError, match="sim option 'stall=1.5' is out of range"):
        Accelerator.open("sim:sim,stall=1.5")


# ---- bad input over the raw link ------------------------------------------------------


@pytest.fixture()
def loaded(sim):
    """A layer in place, to check that every bad frame leaves it working."""
    rng = np.random.default_rng(6)
    product = random_product(rng, 7, 20, 9, mode="codebook", requant=True)
    sim.load_layer(product.spec, product.codes)
    return product


def assert_still_works(sim, product):
    np.testing.assert_array_equal(
        sim.matmul(product.x), matmul(product.x, product.codes, product.spec)
    )


def send(sim, frame: bytes):
    sim.raw.write(frame)
    return sim.raw.read_response()


def layer_frame(sim, product, tag=50) -> bytes:
    return encode_request(
        Op.LOAD_LAYER, encode_layer(product.spec, product.codes, sim.info), tag=tag
    )


def run_frame(sim, x, tag=60) -> bytes:
    return encode_request(Op.RUN, encode_run(x, sim.backend.layer_tag), tag=tag)


def test_responses_echo_the_request_tag(sim, loaded):
    for tag in (1, 77, 255):
        response = send(sim, encode_request(Op.IDENTIFY, tag=tag))
        assert (response.op, response.tag, response.status) == (Op.IDENTIFY, tag, Status.OK)
    response = send(sim, run_frame(sim, loaded.x, tag=99))
    assert (response.op, response.tag, response.status) == (Op.RUN, 99, Status.OK)


def test_bad_crc_is_refused_and_the_old_layer_survives(sim, loaded):
    other = random_product(np.random.default_rng(7), 7, 20, 9, mode="uniform", requant=True)
    frame = bytearray(layer_frame(sim, other))
    frame[20] ^= 0x40  # a payload byte: the header is fine, the CRC is not
    before = sim.counters().bad_crc
    assert send(sim, bytes(frame)).status == Status.BAD_CRC
    assert sim.counters().bad_crc == before + 1
    assert_still_works(sim, loaded)


@pytest.mark.parametrize(
    "frame, status",
    [
        (encode_request(0x7E, b"xyz"), Status.UNKNOWN_OPCODE),
        (encode_request(Op.IDENTIFY, b"\x00"), Status.BAD_LENGTH),
        (
            bytes([HOST_SYNC, Op.IDENTIFY, 1, 0, 0, crc8(b"\x01\x01\x00\x00") ^ 1]),
            Status.BAD_HEADER,
        ),
    ],
    ids=["unknown-opcode", "identify-with-payload", "bad-header-check"],
)
def test_malformed_frames_get_an_error_status(sim, loaded, frame, status):
    response = send(sim, frame)
    assert response.status == status
    if status == Status.BAD_HEADER:  # unreadable: no op or tag to echo
        assert (response.op, response.tag) == (Op.NONE, 0)
    sim.raw.drain()  # a bad header leaves stray bytes; at most one report follows
    assert_still_works(sim, loaded)


def test_wrong_lengths_are_refused(sim, loaded):
    good = encode_layer(loaded.spec, loaded.codes, sim.info)
    for payload in (good[:-1], good + b"\x00"):
        assert send(sim, encode_request(Op.LOAD_LAYER, payload)).status == Status.BAD_LENGTH
    run = encode_run(loaded.x, sim.backend.layer_tag)
    assert send(sim, encode_request(Op.RUN, run[:-1])).status == Status.BAD_LENGTH
    assert send(sim, encode_request(Op.RUN, run + b"\x01")).status == Status.BAD_LENGTH
    assert_still_works(sim, loaded)


def layer_header(mode=0, requant=0, out_bits=0, k=4, n=4) -> bytes:
    flags = {"requant": requant, "relu": 0}
    return pack(LAYER_HEADER, {"mode": mode, "flags": flags, "out_bits": out_bits, "k": k, "n": n})


def test_layers_and_batches_larger_than_the_buffers(sim, loaded):
    info = sim.info
    for k, n in ((info.k_max + 1, 4), (4, info.channels + 1)):
        payload = layer_header(k=k, n=n) + bytes(k * n)
        assert send(sim, encode_request(Op.LOAD_LAYER, payload)).status == Status.TOO_LARGE
        # Header-only frames announcing them are answered the same (not BAD_LENGTH).
        header_only = encode_request(Op.LOAD_LAYER, layer_header(k=k, n=n))
        assert send(sim, header_only).status == Status.TOO_LARGE
    assert send(sim, encode_request(Op.LOAD_LAYER, layer_header(mode=3))).status == Status.BAD_PARAM
    assert send(sim, encode_request(Op.LOAD_LAYER, layer_header(k=0))).status == Status.BAD_PARAM
    rows = info.m_max + 1
    header = pack(RUN_HEADER, {"m": rows, "layer": sim.backend.layer_tag})
    assert send(sim, encode_request(Op.RUN, header)).status == Status.TOO_LARGE
    run = header + bytes(rows * loaded.codes.shape[0])
    assert send(sim, encode_request(Op.RUN, run)).status == Status.TOO_LARGE
    # And the driver refuses them before sending anything.
    big = LayerSpec(weight_bits=4)
    with pytest.raises(ValueError, match="exceeds the device's buffers"):
        sim.load_layer(big, np.zeros((info.k_max + 1, 4), dtype=int))
    assert_still_works(sim, loaded)


def test_values_out_of_range_and_unsupported_parameters(sim, loaded):
    good = bytearray(encode_layer(loaded.spec, loaded.codes, sim.info))
    bad_code = bytearray(good)
    bad_code[-1] = 0x10  # a 5-bit code on a 4-bit core
    assert send(sim, encode_request(Op.LOAD_LAYER, bytes(bad_code))).status == Status.BAD_VALUE
    bad_mode = bytearray(good)
    bad_mode[0] = 3
    assert send(sim, encode_request(Op.LOAD_LAYER, bytes(bad_mode))).status == Status.BAD_PARAM
    bad_out_bits = bytearray(good)
    bad_out_bits[2] = 1
    status = send(sim, encode_request(Op.LOAD_LAYER, bytes(bad_out_bits))).status
    assert status == Status.BAD_PARAM
    assert_still_works(sim, loaded)


def test_a_run_for_another_layer_is_refused(sim, loaded):
    tag = sim.backend.layer_tag
    wrong = encode_request(Op.RUN, encode_run(loaded.x, layer=tag % 255 + 1))
    before = sim.counters().wrong_layer
    assert send(sim, wrong).status == Status.WRONG_LAYER
    assert sim.counters().wrong_layer == before + 1
    assert_still_works(sim, loaded)


def test_garbage_between_frames_is_reported_once_and_skipped(sim, loaded):
    before = sim.counters().bad_sync
    sim.raw.write(b"\x00\x13not a frame\xff")
    response = sim.raw.read_response()
    assert (response.op, response.tag, response.status) == (Op.NONE, 0, Status.BAD_SYNC)
    assert sim.raw.drain() == []  # one report per run of garbage
    assert sim.counters().bad_sync == before + 14  # every stray byte counted
    assert_still_works(sim, loaded)


def test_a_run_of_sync_bytes_is_one_report(sim, loaded):
    before = sim.counters()
    sim.raw.write(bytes([HOST_SYNC]) * 60)
    reports = sim.raw.drain(quiet=0.5)
    assert len(reports) == 1 and reports[0].op == Op.NONE, reports
    after = sim.counters()
    assert after.bad_header - before.bad_header == 10  # 60 bytes, 6 per false header
    assert_still_works(sim, loaded)


def test_a_frame_that_stops_part_way_times_out(sim, loaded):
    frame = layer_frame(sim, loaded)
    response = send(sim, frame[: len(frame) // 2])
    assert (response.op, response.status) == (Op.NONE, Status.TIMEOUT)
    assert_still_works(sim, loaded)


def test_run_without_a_layer_after_reset(sim, loaded):
    sim.reset()
    # Cleared (the COUNTERS request itself is the one frame counted since).
    cleared = dict.fromkeys(Counters.names(), 0) | {"frames_ok": 1}
    assert sim.counters() == Counters(**cleared)
    with pytest.raises(RuntimeError, match="no layer loaded"):
        sim.matmul(loaded.x)
    assert send(sim, encode_request(Op.RUN, encode_run(loaded.x, 1))).status == Status.NO_LAYER
    with pytest.raises(DeviceError, match="NO_LAYER"):
        sim.raw.transact(Op.RUN, encode_run(loaded.x, 1))
    sim.load_layer(loaded.spec, loaded.codes)
    assert_still_works(sim, loaded)


# ---- the driver's own errors -------------------------------------------------------------


def test_driver_refuses_bad_input_with_clear_errors(sim, loaded):
    with pytest.raises(ValueError, match="x has K=3 columns but the loaded layer has K=20"):
        sim.matmul(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="activation 200 does not fit act_bits=8"):
        sim.matmul(np.full((1, 20), 200))
    with pytest.raises(ValueError, match="code 16 does not fit weight_bits=4"):
        sim.load_layer(LayerSpec(), np.full((2, 2), 16))
    wide = LayerSpec(weight_bits=6)
    with pytest.raises(ValueError, match="weight_bits=6 exceeds this core's weight_bits=4"):
        sim.load_layer(wide, np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="requant has 3 output channels but codes has N=2"):
        sim.load_layer(LayerSpec(requant=Requant([1] * 3, [0] * 3)), np.zeros((2, 2), dtype=int))
    with pytest.raises(ValueError, match="unknown target 'fpga'"):
        Accelerator.open("fpga")
    with pytest.raises(ValueError, match="unknown device 'nosuchboard'"):
        Accelerator.open("ref:nosuchboard")
    with pytest.raises(ValueError, match="unknown device 'nosuchboard'"):
        Accelerator.open("sim:nosuchboard")
    assert_still_works(sim, loaded)


def test_a_layer_that_could_overflow_the_accumulator_is_refused(sim, ref):
    narrow = LayerSpec(acc_bits=12, weight_bits=4)  # 8-bit x 4-bit products: K <= 1
    for acc in (sim, ref):
        with pytest.raises(ValueError, match="K=16 could overflow acc_bits=12"):
            acc.load_layer(narrow, np.zeros((16, 2), dtype=int))


def test_a_dead_simulator_is_reported_not_hung_on():
    acc = Accelerator.open("sim", timeout=5)
    product = random_product(np.random.default_rng(8), 3, 4, 5, mode="spx")
    acc.load_layer(product.spec, product.codes)
    acc.raw.simulator.process.kill()
    with pytest.raises(DeviceGone, match="simulator exited"):
        acc.matmul(product.x)
    with pytest.raises(DeviceGone, match="simulator exited"):  # and again: no wrong result
        acc.matmul(product.x)
    acc.close()


def test_silence_and_missing_ports(sim):
    with pytest.raises(DeviceTimeout, match="no complete response"):
        sim.raw.read_response(timeout=0.2)
    with pytest.raises(DeviceGone, match="cannot open serial port /dev/nonexistent-qmatmul"):
        Accelerator.open("serial:/dev/nonexistent-qmatmul")


def test_a_layer_too_big_for_one_frame_is_refused_before_sending(sim, loaded):
    big = random_product(np.random.default_rng(9), 1, 256, 256, mode="uniform", requant=True)
    with pytest.raises(ValueError, match="a 256 x 256 layer takes .* bytes, more than one LOAD"):
        sim.load_layer(big.spec, big.codes)
    assert_still_works(sim, loaded)


def test_the_command_line_reports_errors_without_a_traceback(capsys):
    from sw.cli import main

    assert main(["matmul", "--backend", "serial:/dev/nonexistent-qmatmul"]) == 1
    assert main(["matmul", "--backend", "fpga"]) == 1
    err = capsys.readouterr().err
    assert "error: cannot open serial port /dev/nonexistent-qmatmul" in err
    assert "error: unknown target 'fpga'" in err and "Traceback" not in err


def test_a_garbled_answer_is_one_line_on_the_command_line(monkeypatch, capsys):
    import sw.driver.matmul_cli
    from sw.cli import main
    from sw.device.protocol import ProtocolError

    def garbled(argv):
        raise ProtocolError("frame header 01 02 fails its CRC-8")

    monkeypatch.setattr(sw.driver.matmul_cli, "main", garbled)
    assert main(["matmul"]) == 1
    err = capsys.readouterr().err
    assert err == "error: frame header 01 02 fails its CRC-8\n"


def test_the_matmul_command_checks_sim_against_ref(capsys):
    from sw.cli import main

    assert main(["matmul", "--m", "9", "--k", "33", "--n", "7"]) == 0  # sim by default
    out = capsys.readouterr().out
    assert "backend      sim" in out and "matches ref  yes" in out and "bit exact" in out
    assert main(["matmul", "--backend", "ref", "--m", "2"]) == 0
    assert "self-check" in capsys.readouterr().out


# ---- REPEAT: the last RUN again on chip -----------------------------------------------


def test_repeat_runs_the_last_run_again_and_counts_its_cycles(sim, ref):
    rng = np.random.default_rng(21)
    product = random_product(rng, 9, 30, 7, mode="spx", requant=True)
    counted = []
    for acc in (sim, ref):
        acc.load_layer(product.spec, product.codes)
        with pytest.raises(DeviceError, match="NO_LAYER"):  # no RUN of this layer yet
            acc.repeat_product(2)
        expected = acc.matmul(product.x, measure_cycles=True)
        one_run = acc.last_run_cycles
        counted.append(acc.repeat_product(7))
        assert counted[-1] == 7 * one_run  # back to back, one RUN's count each
        assert acc.counters().stall_cycles == 0  # the results are dropped, not sent
        np.testing.assert_array_equal(acc.matmul(product.x), expected)  # still the layer
        for bad in (0, 65536, 2.0):
            with pytest.raises(ValueError, match="repeat count"):
                acc.repeat_product(bad)
    assert counted[0] == counted[1]  # the device and the cycle model


def test_bad_repeat_frames_get_their_status(sim, loaded):
    sim.matmul(loaded.x)
    for payload, status in (
        (b"\x05", Status.BAD_LENGTH),  # one byte of two
        (b"\x05\x00\x00", Status.BAD_LENGTH),
        (b"\x00\x00", Status.BAD_PARAM),  # a count of 0
        (b"\x03\x00", Status.OK),
    ):
        assert send(sim, encode_request(Op.REPEAT, payload)).status == status
    assert sim.counters().run_cycles > 0
    assert_still_works(sim, loaded)
