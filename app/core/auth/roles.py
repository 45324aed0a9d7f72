from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    clerk = "clerk"
    leader = "leader"
    unit_handler = "unit_handler"
    supervisor = "supervisor"
    office = "office"
    reviewer_discipline = "reviewer_discipline"
    reviewer_organisation = "reviewer_organisation"
    reviewer_petition = "reviewer_petition"


ROLE_LABELS: dict[Role, str] = {
    Role.admin: "系统管理员",
    Role.clerk: "窗口工作人员",
    Role.leader: "领导",
    Role.unit_handler: "承办单位",
    Role.supervisor: "督查",
    Role.office: "组织/办公室",
    Role.reviewer_discipline: "纪委审阅",
    Role.reviewer_organisation: "组织部审阅",
    Role.reviewer_petition: "信访局审阅",
}

STAFF_ROLES: frozenset[Role] = frozenset(Role)
REVIEWER_ROLES: frozenset[Role] = frozenset(
    {Role.reviewer_discipline, Role.reviewer_organisation, Role.reviewer_petition}
)
#: Roles that work with the organisation data day to day (reviewers see archives only).
ORG_READER_ROLES: frozenset[Role] = STAFF_ROLES - REVIEWER_ROLES
