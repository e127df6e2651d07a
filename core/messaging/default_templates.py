"""Default message templates in the six shipped languages, and a function to seed them.

Four keys: :data:`APPOINTMENT_REMINDER`, :data:`FOLLOW_UP`, :data:`SURVEY_INVITATION`
and :data:`OPT_OUT_CONFIRMATION`, each for every locale of
:data:`core.i18n.SUPPORTED_LOCALES`, on any channel.  Bodies are the sandboxed
Jinja of :mod:`core.messaging.templates`; the greeting comes from
:mod:`core.keywords` and the reply words they ask for (``YES``, ``BATAL``,
``退订``...) are default keywords of the same language, so a reply is understood
(``tests/i18n`` checks both).  Senders pass ``ctx.survey_url`` for a survey
invitation and ``appointment_id`` for a reminder.  Marketers edit the seeded
rows in the back office; :func:`seed_default_templates` never overwrites an
existing row unless asked to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from core.i18n import SUPPORTED_LOCALES
from core.keywords import DEFAULT_GREETINGS
from core.models.outbox import ANY_CHANNEL, MessageTemplate

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

APPOINTMENT_REMINDER = "appointment_reminder"
FOLLOW_UP = "follow_up"
SURVEY_INVITATION = "survey_invitation"
OPT_OUT_CONFIRMATION = "opt_out_confirmation"
KEYS: tuple[str, ...] = (APPOINTMENT_REMINDER, FOLLOW_UP, SURVEY_INVITATION, OPT_OUT_CONFIRMATION)


@dataclass(frozen=True)
class DefaultTemplate:
    """One default template: key, locale, e-mail subject and body (sandboxed Jinja)."""

    key: str
    locale: str
    subject: str
    body: str
    description: str


def _greeting(locale: str) -> str:
    return DEFAULT_GREETINGS[locale] % {"name": "{{ patient.display_name }}"}


_WITH_DOCTOR = {
    "en": "{% if appointment.doctor %} with {{ appointment.doctor }}{% endif %}",
    "id": "{% if appointment.doctor %} dengan {{ appointment.doctor }}{% endif %}",
    "zh": "{% if appointment.doctor %}（{{ appointment.doctor }}）{% endif %}",
    "ru": "{% if appointment.doctor %} к врачу {{ appointment.doctor }}{% endif %}",
    "uk": "{% if appointment.doctor %} до лікаря {{ appointment.doctor }}{% endif %}",
    "ko": "{% if appointment.doctor %}({{ appointment.doctor }}){% endif %}",
}

#: (subject, text after the greeting) per key and locale
_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    APPOINTMENT_REMINDER: {
        "en": (
            "Appointment reminder",
            "This is a reminder of your appointment{doctor} on {{{{ appointment.weekday }}}}, "
            "{{{{ appointment.date }}}} at {{{{ appointment.time }}}}.\n"
            "Reply YES to confirm, CANCEL to cancel or RESCHEDULE to change the time.",
        ),
        "id": (
            "Pengingat janji temu",
            "Kami mengingatkan janji temu Anda{doctor} pada hari {{{{ appointment.weekday }}}}, "
            "{{{{ appointment.date }}}} pukul {{{{ appointment.time }}}}.\n"
            "Balas YA untuk konfirmasi, BATAL untuk membatalkan, atau UBAH JADWAL untuk "
            "mengganti waktu.",
        ),
        "zh": (
            "就诊预约提醒",
            "温馨提醒：您已预约{{{{ appointment.date }}}}（{{{{ appointment.weekday }}}}）"
            "{{{{ appointment.time }}}}的门诊{doctor}。\n"
            "确认就诊请回复“确认”，取消请回复“取消”，如需改期请回复“改期”。",
        ),
        "ru": (
            "Напоминание о записи на приём",
            "Напоминаем о вашей записи на приём{doctor}: {{{{ appointment.weekday }}}}, "
            "{{{{ appointment.date }}}}, в {{{{ appointment.time }}}}.\n"
            "Ответьте ДА, чтобы подтвердить, ОТМЕНА, чтобы отменить, или ПЕРЕНЕСТИ, "
            "чтобы выбрать другое время.",
        ),
        "uk": (
            "Нагадування про запис на прийом",
            "Нагадуємо про ваш запис на прийом{doctor}: {{{{ appointment.weekday }}}}, "
            "{{{{ appointment.date }}}}, о {{{{ appointment.time }}}}.\n"
            "Дайте відповідь ТАК, щоб підтвердити, СКАСУВАТИ, щоб скасувати, або "
            "ПЕРЕНЕСТИ, щоб обрати інший час.",
        ),
        "ko": (
            "진료 예약 안내",
            "{{{{ appointment.date }}}} {{{{ appointment.weekday }}}} {{{{ appointment.time }}}}에 "
            "진료 예약{doctor}이 있음을 알려 드립니다.\n"
            "예약을 확정하시려면 '확인', 취소하시려면 '취소', 일정을 바꾸시려면 '변경'이라고 "
            "답장해 주세요.",
        ),
    },
    FOLLOW_UP: {
        "en": (
            "How are you feeling?",
            "We hope you are feeling better after your recent visit. If you have any questions "
            "about your treatment or your medicines, simply reply to this message.\n"
            "Reply STOP to receive no more messages.",
        ),
        "id": (
            "Bagaimana kabar Anda?",
            "Kami berharap kondisi Anda membaik setelah kunjungan terakhir. Jika ada pertanyaan "
            "tentang perawatan atau obat Anda, cukup balas pesan ini.\n"
            "Balas BERHENTI jika tidak ingin menerima pesan lagi.",
        ),
        "zh": (
            "您近来身体可好？",
            "感谢您近期到院就诊，祝您早日康复。如对治疗或用药有任何疑问，直接回复本消息即可。\n"
            "回复“退订”即不再接收消息。",
        ),
        "ru": (
            "Как вы себя чувствуете?",
            "Надеемся, что после недавнего визита вам стало лучше. Если у вас есть вопросы о "
            "лечении или лекарствах, просто ответьте на это сообщение.\n"
            "Ответьте СТОП, чтобы больше не получать сообщения.",
        ),
        "uk": (
            "Як ви почуваєтеся?",
            "Сподіваємося, що після нещодавнього візиту вам стало краще. Якщо у вас є запитання "
            "щодо лікування чи ліків, просто дайте відповідь на це повідомлення.\n"
            "Надішліть СТОП, щоб більше не отримувати повідомлень.",
        ),
        "ko": (
            "건강은 어떠신가요?",
            "최근 내원 후 건강이 나아지셨기를 바랍니다. 치료나 복용 중인 약에 대해 궁금한 점이 "
            "있으시면 이 메시지에 답장해 주세요.\n"
            "더 이상 메시지를 받지 않으시려면 '수신거부'라고 답장해 주세요.",
        ),
    },
    SURVEY_INVITATION: {
        "en": (
            "Tell us about your visit",
            "Thank you for visiting us. Would you take two minutes to tell us how it went? "
            "Your answers help us care for you better:\n{{ ctx.survey_url }}\n"
            "Reply STOP to receive no more messages.",
        ),
        "id": (
            "Ceritakan kunjungan Anda",
            "Terima kasih atas kunjungan Anda. Bersediakah Anda meluangkan dua menit untuk "
            "menilai layanan kami? Jawaban Anda membantu kami melayani Anda lebih baik:\n"
            "{{ ctx.survey_url }}\n"
            "Balas BERHENTI jika tidak ingin menerima pesan lagi.",
        ),
        "zh": (
            "请评价您的就诊体验",
            "感谢您的就诊。能否花两分钟时间告诉我们您的就诊体验？您的反馈将帮助我们更好地为您服务：\n"
            "{{ ctx.survey_url }}\n"
            "回复“退订”即不再接收消息。",
        ),
        "ru": (
            "Расскажите о вашем визите",
            "Спасибо, что обратились к нам. Уделите, пожалуйста, две минуты, чтобы оценить "
            "визит: ваши ответы помогут нам заботиться о вас лучше.\n{{ ctx.survey_url }}\n"
            "Ответьте СТОП, чтобы больше не получать сообщения.",
        ),
        "uk": (
            "Розкажіть про ваш візит",
            "Дякуємо, що звернулися до нас. Приділіть, будь ласка, дві хвилини, щоб оцінити "
            "візит: ваші відповіді допоможуть нам краще дбати про вас.\n{{ ctx.survey_url }}\n"
            "Надішліть СТОП, щоб більше не отримувати повідомлень.",
        ),
        "ko": (
            "진료 경험을 알려 주세요",
            "저희 병원을 찾아 주셔서 감사합니다. 2분만 시간을 내어 진료 경험을 평가해 주시겠어요? "
            "보내 주신 의견은 더 나은 진료에 활용됩니다.\n{{ ctx.survey_url }}\n"
            "더 이상 메시지를 받지 않으시려면 '수신거부'라고 답장해 주세요.",
        ),
    },
    OPT_OUT_CONFIRMATION: {
        "en": (
            "You are unsubscribed",
            "You are unsubscribed and will receive no more messages from us on this channel. "
            "To subscribe again, reply START.",
        ),
        "id": (
            "Anda telah berhenti berlangganan",
            "Anda telah berhenti berlangganan dan tidak akan menerima pesan lagi dari kami "
            "melalui saluran ini. Untuk berlangganan kembali, balas MULAI.",
        ),
        "zh": (
            "您已成功退订",
            "您已成功退订，今后将不再通过此渠道收到我们的消息。如需重新订阅，请回复“订阅”。",
        ),
        "ru": (
            "Вы отписались",
            "Вы отписались и больше не будете получать от нас сообщения по этому каналу. "
            "Чтобы снова подписаться, ответьте СТАРТ.",
        ),
        "uk": (
            "Ви відписалися",
            "Ви відписалися й більше не отримуватимете від нас повідомлень цим каналом. "
            "Щоб знову підписатися, надішліть СТАРТ.",
        ),
        "ko": (
            "수신 거부가 완료되었습니다",
            "수신 거부가 완료되어 이 채널로는 더 이상 메시지가 발송되지 않습니다. "
            "다시 받으시려면 '수신동의'라고 답장해 주세요.",
        ),
    },
}

_DESCRIPTIONS = {
    APPOINTMENT_REMINDER: "Default reminder before an appointment (needs appointment_id)",
    FOLLOW_UP: "Default follow-up after a visit",
    SURVEY_INVITATION: "Default survey invitation (needs ctx.survey_url)",
    OPT_OUT_CONFIRMATION: "Default confirmation sent once after an opt-out",
}


def _build() -> tuple[DefaultTemplate, ...]:
    out = []
    for key, by_locale in _TEXTS.items():
        for locale, (subject, text) in by_locale.items():
            if key == APPOINTMENT_REMINDER:
                text = text.format(doctor=_WITH_DOCTOR[locale])
            # the opt-out confirmation goes to someone who asked for silence: no greeting
            body = text if key == OPT_OUT_CONFIRMATION else f"{_greeting(locale)}\n{text}"
            out.append(DefaultTemplate(key, locale, subject, body, _DESCRIPTIONS[key]))
    return tuple(out)


#: Every default template (4 keys x 6 locales).
DEFAULT_TEMPLATES: tuple[DefaultTemplate, ...] = _build()


def default_template(key: str, locale: str) -> DefaultTemplate:
    """The default template for *key* in *locale* (English when the locale has none)."""
    base = locale.split("-")[0]
    for wanted in (base, "en"):
        for template in DEFAULT_TEMPLATES:
            if template.key == key and template.locale == wanted:
                return template
    raise KeyError(key)


def seed_default_templates(
    session: Session,
    *,
    locales: tuple[str, ...] = SUPPORTED_LOCALES,
    overwrite: bool = False,
) -> int:
    """Store the default templates (validated) that are missing; return how many were
    written.  Existing rows are kept, unless *overwrite*.  The caller commits."""
    from core.messaging.templates import save_template

    rows = session.execute(
        select(MessageTemplate.key, MessageTemplate.locale).where(
            MessageTemplate.channel == ANY_CHANNEL
        )
    )
    existing = {(key, locale) for key, locale in rows}
    written = 0
    for template in DEFAULT_TEMPLATES:
        if template.locale not in locales:
            continue
        if (template.key, template.locale) in existing and not overwrite:
            continue
        save_template(
            session,
            key=template.key,
            locale=template.locale,
            body=template.body,
            subject=template.subject,
            description=template.description,
        )
        written += 1
    return written
