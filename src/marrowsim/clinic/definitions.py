"""Clinical definitions in one place: the severity and response criteria as
numbers (``severity`` gives their sources) and the names of the clinical
events (causes of death, transfusions). A leaf module that imports nothing:
the mechanisms that declare the events (``diagnosis``, the causes of death,
``transfusion``) and the clinic that reads them both take the names from here,
so they agree by construction."""

SEVERITY_LEVELS = ("none", "non_severe", "severe", "very_severe")
# the counts a clinician reads, in the order of the timecourse's columns
# (DESIGN section 5): Hb g/dL; ANC, WBC, lymphocytes, platelets, retic 10^9/L;
# cellularity % of marrow space; hsc fraction of the healthy pool
COUNT_READOUTS = ("hb", "anc", "wbc", "lymphocytes", "platelets", "retic", "cellularity", "hsc")

SEVERE_CELLULARITY_BELOW = 25.0  # % of marrow space
SEVERE_ANC_BELOW = 0.5  # 10^9/L
SEVERE_PLATELETS_BELOW = 20.0  # 10^9/L
SEVERE_RETIC_BELOW = 60.0  # 10^9/L
VERY_SEVERE_ANC_BELOW = 0.2  # 10^9/L
HYPOCELLULAR_BELOW = 40.0  # % of marrow space
NON_SEVERE_HB_BELOW = 10.0  # g/dL
NON_SEVERE_ANC_BELOW = 1.5  # 10^9/L
NON_SEVERE_PLATELETS_BELOW = 50.0  # 10^9/L
COMPLETE_ANC_AT_LEAST = 1.0
COMPLETE_HB_AT_LEAST = 10.0
COMPLETE_PLATELETS_AT_LEAST = 100.0

# -- clinical events declared by mechanisms ----------------------------------
DIAGNOSIS_EVENT = "diagnosis"  # severe criteria first met (enrolment)
BLEEDING_EPISODE_EVENT = "bleeding_episode"  # a first WHO grade >= 2 bleed
DEATH_CAUSES = ("infection", "bleeding", "anaemia", "transplant")


def death_event(cause: str) -> str:
    """The name of the terminal event of death from ``cause``."""
    return f"death_from_{cause}"


# transfusion event -> (product, parameter holding the units per episode)
TRANSFUSIONS = {
    "red_cell_transfusion": ("rbc", "transfusion_red_cell_units"),
    "platelet_transfusion": ("platelet", "transfusion_platelet_units"),
    "therapeutic_platelet_transfusion": ("platelet", "transfusion_platelet_therapeutic_units"),
}

# -- treatments: (dose parameter, start-day parameter); given where the dose is
# > 0, and response is read from the earliest start (clinic.response)
TREATMENTS = {
    "hatg": ("hatg_dose_mg_per_kg_day", "hatg_start_day"),
    "ratg": ("ratg_dose_mg_per_kg_day", "ratg_start_day"),
    "cyclosporine": ("cyclosporine_dose_mg_per_kg_day", "cyclosporine_start_day"),
    "eltrombopag": ("eltrombopag_dose_mg_per_day", "eltrombopag_start_day"),
    "filgrastim": ("filgrastim_dose_ug_per_kg_day", "filgrastim_start_day"),
    "transplant": ("transplant_cd34_dose_1e6_per_kg", "transplant_start_day"),
}

# inputs of supportive care (transfusions, anti-infectives): given from
# diagnosis in the work-up before a delayed enrolment, unlike treatments
CARE_INPUTS = ("transfusion_on", "antimicrobial_prophylaxis_on")
