"""The French words of the pages: labels of the closed lists, and what each action and state says."""

from __future__ import annotations

from vocation_shared.contracts.vocabulary import (
    ApplicationDeclineReason,
    ApplicationWithdrawalReason,
    ContractType,
    EstablishmentKind,
    MatchDeclineReason,
    WorkingTime,
)
from vocation_shared.links import Action

from vocation_catalogue.core.applications import ApplicationState, Refusal

CONTRACTS: dict[str, str] = {
    ContractType.CDI: "CDI (contrat à durée indéterminée)",
    ContractType.CDD: "CDD (contrat à durée déterminée)",
    ContractType.REMPLACEMENT: "Remplacement",
    ContractType.APPRENTISSAGE: "Contrat d'apprentissage",
    ContractType.PROFESSIONNALISATION: "Contrat de professionnalisation",
    ContractType.STAGE: "Stage",
}
WORKING_TIMES: dict[str, str] = {WorkingTime.FULL_TIME: "Temps plein", WorkingTime.PART_TIME: "Temps partiel"}
KINDS: dict[str, str] = {
    EstablishmentKind.HOSPITAL: "Hôpital",
    EstablishmentKind.CLINIC: "Clinique",
    EstablishmentKind.EHPAD: "EHPAD",
    EstablishmentKind.RESIDENCE_AUTONOMIE: "Résidence autonomie",
    EstablishmentKind.SAAD: "Service d'aide à domicile",
    EstablishmentKind.SSIAD: "Service de soins infirmiers à domicile",
    EstablishmentKind.CRECHE: "Crèche",
    EstablishmentKind.TRAINING_INSTITUTE: "Organisme de formation",
}
"""Kinds spelled out; the others (IME, ESAT, MAS…) are shown as their acronym."""

MATCH_DECLINE_REASONS: dict[MatchDeclineReason, str] = {
    MatchDeclineReason.TOO_FAR: "Trop loin",
    MatchDeclineReason.HOURS: "Les horaires ne me conviennent pas",
    MatchDeclineReason.CONTRACT: "Le contrat ne me convient pas",
    MatchDeclineReason.METIER: "Ce n'est pas le métier que je cherche",
    MatchDeclineReason.ALREADY_EMPLOYED: "Je suis déjà en poste",
    MatchDeclineReason.OTHER: "Autre raison",
}
MATCH_DECLINE_NEXT: dict[MatchDeclineReason, str] = {
    MatchDeclineReason.TOO_FAR: "Nous vous proposerons des offres plus proches de chez vous.",
    MatchDeclineReason.HOURS: "Nous éviterons les offres de nuit ou de week-end.",
    MatchDeclineReason.METIER: "Nous éviterons les offres de ce métier voisin du vôtre.",
}
APPLICATION_DECLINE_REASONS: dict[ApplicationDeclineReason, str] = {
    ApplicationDeclineReason.PROFILE_MISMATCH: "Le profil ne correspond pas au poste",
    ApplicationDeclineReason.MISSING_DIPLOMA: "Le diplôme requis manque",
    ApplicationDeclineReason.POSITION_FILLED: "Le poste est déjà pourvu",
    ApplicationDeclineReason.AVAILABILITY: "Les disponibilités ne conviennent pas",
    ApplicationDeclineReason.OTHER: "Autre raison",
}
WITHDRAWAL_REASONS: dict[ApplicationWithdrawalReason, str] = {
    ApplicationWithdrawalReason.CANDIDATE: "La candidature a été retirée par le candidat ou la candidate.",
    ApplicationWithdrawalReason.UNANSWERED: "La candidature a été close faute de réponse de l'employeur.",
    ApplicationWithdrawalReason.OFFER_CLOSED: "La candidature a été close : l'offre a été retirée.",
    ApplicationWithdrawalReason.OFFER_FILLED: "La candidature a été close : le poste a été pourvu.",
}

CANDIDATE_ACTIONS = frozenset({Action.VIEW_OFFER, Action.INTERESTED, Action.NOT_FOR_ME, Action.WITHDRAW})
EMPLOYER_ACTIONS = frozenset({Action.PROPOSE_EXCHANGE, Action.DECLINE, Action.HIRED})
PAGE_ACTIONS = CANDIDATE_ACTIONS | EMPLOYER_ACTIONS
"""The actions whose links open a page here (the unsubscribe links are notifications')."""

FORM_TITLES: dict[Action, str] = {
    Action.INTERESTED: "Je suis intéressé(e)",
    Action.NOT_FOR_ME: "Pas pour moi",
    Action.WITHDRAW: "Retirer ma candidature",
    Action.PROPOSE_EXCHANGE: "Proposer un échange",
    Action.DECLINE: "Ne pas donner suite",
    Action.HIRED: "Embauché(e)",
}
CONFIRM_BUTTONS: dict[Action, str] = {
    Action.INTERESTED: "Confirmer mon intérêt",
    Action.NOT_FOR_ME: "Confirmer",
    Action.WITHDRAW: "Retirer ma candidature",
    Action.PROPOSE_EXCHANGE: "Proposer un échange",
    Action.DECLINE: "Envoyer ma réponse",
    Action.HIRED: "Confirmer l'embauche",
}
DONE_STATES: dict[Action, frozenset[ApplicationState]] = {
    Action.INTERESTED: frozenset(
        {
            ApplicationState.SUBMITTED,
            ApplicationState.INTERVIEW_PROPOSED,
            ApplicationState.DECLINED,
            ApplicationState.HIRED,
        }
    ),
    Action.NOT_FOR_ME: frozenset({ApplicationState.MATCH_DECLINED}),
    Action.WITHDRAW: frozenset({ApplicationState.WITHDRAWN}),
    Action.PROPOSE_EXCHANGE: frozenset({ApplicationState.INTERVIEW_PROPOSED, ApplicationState.HIRED}),
    Action.DECLINE: frozenset({ApplicationState.DECLINED}),
    Action.HIRED: frozenset({ApplicationState.HIRED}),
}
"""The states in which a link's action is already done: its page shows the result, not the form
(a second click shows the same result)."""

STATE_TITLES: dict[ApplicationState, str] = {
    ApplicationState.MATCH_DECLINED: "C'est noté : cette offre n'est pas pour vous",
    ApplicationState.SUBMITTED: "Votre intérêt a été transmis à l'employeur",
    ApplicationState.INTERVIEW_PROPOSED: "L'employeur propose un échange",
    ApplicationState.DECLINED: "L'employeur n'a pas donné suite",
    ApplicationState.HIRED: "Embauche enregistrée",
    ApplicationState.WITHDRAWN: "Cette candidature est close",
}
CANDIDATE_STATES: dict[ApplicationState, str] = {
    ApplicationState.MATCH_DECLINED: "Nous ne vous proposerons plus cette offre. Vous pouvez changer d'avis tant qu'elle est ouverte.",
    ApplicationState.SUBMITTED: "L'employeur a reçu votre candidature. Nous vous préviendrons dès qu'il répond.",
    ApplicationState.INTERVIEW_PROPOSED: "L'employeur souhaite échanger avec vous : ses coordonnées vous ont été envoyées par e-mail.",
    ApplicationState.DECLINED: "L'employeur ne donne pas suite à votre candidature. D'autres offres vous attendent.",
    ApplicationState.HIRED: "Félicitations pour votre embauche !",
}
EMPLOYER_STATES: dict[ApplicationState, str] = {
    ApplicationState.SUBMITTED: "La candidature attend votre réponse.",
    ApplicationState.INTERVIEW_PROPOSED: "Vous avez proposé un échange : le candidat ou la candidate a reçu vos coordonnées.",
    ApplicationState.DECLINED: "Vous n'avez pas donné suite : le candidat ou la candidate en a été informé(e).",
    ApplicationState.HIRED: "L'embauche est enregistrée : le poste est compté comme pourvu. Merci !",
}
REFUSALS: dict[Refusal, tuple[str, str]] = {
    Refusal.UNKNOWN_CANDIDATE: (
        "Profil introuvable",
        "Ce profil n'est plus inscrit sur Vocation : il a peut-être été supprimé à la demande de la personne.",
    ),
    Refusal.UNKNOWN_OFFER: ("Offre introuvable", "Cette offre n'existe pas ou plus sur Vocation."),
    Refusal.OFFER_CLOSED: (
        "Cette offre n'est plus disponible",
        "L'offre a été pourvue ou retirée : il n'est plus possible d'y répondre.",
    ),
    Refusal.ENDED: ("Cette candidature est terminée", "Il n'est plus possible d'y répondre."),
    Refusal.NOT_SUBMITTED: (
        "Aucune candidature en cours",
        "Aucune candidature en cours n'a été trouvée pour cette offre.",
    ),
}
