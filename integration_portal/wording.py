"""Django admin phrases this project's Russian catalogue says better. Django's own translations
put the model's name in the nominative where Russian needs another case ("Добавить еще один
Операция", "Операция “Zvonok” был изменен успешно"). Listed here so that makemessages keeps
them in this project's catalogue, which Django reads before its own (LOCALE_PATHS)."""

from django.utils.translation import gettext_noop

PHRASES = [
    gettext_noop("Add another %(verbose_name)s"),
    gettext_noop("The {name} “{obj}” was added successfully."),
    gettext_noop("The {name} “{obj}” was added successfully. You may add another {name} below."),
    gettext_noop("The {name} “{obj}” was changed successfully."),
    gettext_noop("The {name} “{obj}” was changed successfully. You may edit it again below."),
    gettext_noop("The {name} “{obj}” was changed successfully. You may add another {name} below."),
    gettext_noop("The %(name)s “%(obj)s” was deleted successfully."),
    gettext_noop("You may edit it again below."),
]
