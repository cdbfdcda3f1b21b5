"""The benchmark's report: ratios against the floor and the peer, the targets, the projected Dataflow
cost (`headline`), and the Markdown tables for bench/README.md (`markdown`), all from the results JSON, so an
earlier results file can be reported again (`--rereport`)."""

from __future__ import annotations

from bench.figures import N1_STANDARD_4, DataflowPrices, dataflow_cost_per_million, ratio, rounded
from bench.systems import FLOOR, JOB_ALL, JOB_ONE, PEER

TARGETS = {"job_vs_floor_min": 0.60, "job_vs_cleanvision_min": 3.0, "scale_peak_rss_mb_max": 3 * 1024}


def headline(result: dict, cpus: int) -> dict:
    """Ratios, targets and cost from the per-system figures."""
    systems = result.get("systems", {})

    def steady(name: str) -> float | None:
        return systems.get(name, {}).get("steady_images_per_s")

    def per_cpu_s(name: str) -> float | None:
        return systems.get(name, {}).get("images_per_cpu_s")

    figures: dict = {
        "job_vs_floor": rounded(ratio(steady(JOB_ALL), steady(FLOOR)), 3),
        "job_vs_cleanvision": rounded(ratio(steady(JOB_ALL), steady(PEER)), 2),
        "job_one_process_vs_floor": rounded(ratio(steady(JOB_ONE), steady(FLOOR)), 3),
        # Per CPU-second of the whole process tree: what each system needs per photo, which other work
        # on the machine changes far less than wall time (it misses idle cores, so it flatters a little).
        "job_vs_floor_per_cpu_s": rounded(ratio(per_cpu_s(JOB_ALL), per_cpu_s(FLOOR)), 3),
        "job_vs_cleanvision_per_cpu_s": rounded(ratio(per_cpu_s(JOB_ALL), per_cpu_s(PEER)), 2),
        "job_one_process_vs_floor_per_cpu_s": rounded(ratio(per_cpu_s(JOB_ONE), per_cpu_s(FLOOR)), 3),
        "targets": TARGETS,
    }
    figures["meets"] = {
        name: None if figures[name] is None else figures[name] >= TARGETS[f"{name}_min"]
        for name in ("job_vs_floor", "job_vs_cleanvision")
    }
    scale = result.get("scale", {})
    if scale.get("peak_rss_mb"):
        figures["meets"]["scale_peak_rss_under_3gb"] = (
            max(scale["peak_rss_mb"]) < TARGETS["scale_peak_rss_mb_max"]
        )
    job = systems.get(JOB_ALL, {})
    if job.get("steady_images_per_s"):
        per_vcpu = job["steady_images_per_s"] / cpus
        figures["dataflow_cost_per_million_12mp"] = {
            "from_wall_clock": dataflow_cost_per_million(per_vcpu),
            "if_cores_fully_used": dataflow_cost_per_million(job["images_per_cpu_s"])
            if job.get("images_per_cpu_s")
            else None,
            "basis": (
                "from_wall_clock: steady images/s of job_all_cores divided by this machine's cores; "
                "if_cores_fully_used: 1 / CPU-seconds per image (no idle or stolen time)"
            ),
            "assumptions": DataflowPrices.__doc__.strip()
            + " Worker "
            + N1_STANDARD_4.name
            + ", 25 GB standard boot disk, no boot or autoscaling time, one Dataflow vCPU = one core here.",
        }
    return figures


def _cell(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    """The figures as Markdown tables, for bench/README.md ("Results")."""
    lines = []
    systems = result.get("systems")
    if systems:
        n1, n2 = result["sizes"]
        photos = result["photos"]
        lines += [
            f"{photos['count']} photos, {photos['first_file_pixels']}, {photos['mean_mb']} MB on average; "
            f"steady state from runs over {n1} and {n2} photos.",
            "",
            "| system | steady images/s | in-run images/s | per core | start-up s | CPU ms/image "
            "| peak RSS MB (PSS) | model loads |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, figures in systems.items():
            if not figures.get("valid") or "steady_images_per_s" not in figures:
                lines.append(f"| {name} | failed: see the JSON | | | | | | |")
                continue
            loads = {run["reported"].get("model_loads_metric") for run in figures["runs"]}
            loads_text = "/".join(str(value) for value in sorted(loads, key=str)) if "job" in name else ""
            cpu = figures["cpu_s_per_image"]
            lines.append(
                f"| {name} | {_cell(figures['steady_images_per_s'])} "
                f"| {_cell(figures.get('inrun_images_per_s'))} "
                f"| {_cell(figures['steady_images_per_s_per_core'])} | {_cell(figures['startup_s'])} "
                f"| {_cell(None if cpu is None else cpu * 1000, 0)} "
                f"| {figures['peak_rss_mb']:.0f} ({figures['peak_pss_mb']:.0f}) | {loads_text} |"
            )
        head = result.get("headline", {})
        lines += [
            "",
            f"job/floor = {head.get('job_vs_floor')} (target >= {TARGETS['job_vs_floor_min']}); "
            f"job/CleanVision = {head.get('job_vs_cleanvision')} "
            f"(target >= {TARGETS['job_vs_cleanvision_min']})",
            f"per CPU-second: job/floor = {head.get('job_vs_floor_per_cpu_s')}, "
            f"job/CleanVision = {head.get('job_vs_cleanvision_per_cpu_s')}",
        ]
        stages = result.get("stage_costs") or {}
        if "ms_per_photo" in stages:
            costs = ", ".join(f"{stage} {ms:.1f}" for stage, ms in stages["ms_per_photo"].items())
            lines.append(f"CPU ms per photo on one core: {costs}; decode/total {stages['best_job_vs_floor']}")
        cost = head.get("dataflow_cost_per_million_12mp")
        if cost:
            wall = cost["from_wall_clock"]
            lines.append(
                f"Dataflow, 1M 12 MP photos on {wall['worker']['name']}: {wall['vcpu_hours']} vCPU-hours, "
                f"${wall['usd']['total']} (assumed list prices; see the JSON)"
            )
    scale = result.get("scale")
    if scale and scale.get("peak_rss_mb"):
        lines += [
            "",
            "| scale run: files | wall s | whole-run images/s | in-run images/s | peak RSS MB | peak PSS MB "
            "| model loads |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for run in scale["runs"]:
            lines.append(
                f"| {run['n']} | {run['wall_s']:.1f} | {run['n'] / run['wall_s']:.1f} "
                f"| {_cell(run.get('inrun_images_per_s'))} | {run['peak_rss_mb']:.0f} "
                f"| {run['peak_pss_mb']:.0f} | {run['reported'].get('model_loads_metric')} |"
            )
        lines.append(
            f"steady (two sizes) {_cell(scale['steady_images_per_s'])} images/s; "
            f"peak RSS growth x{scale['peak_rss_growth']}"
        )
    return "\n".join(lines) + "\n"
