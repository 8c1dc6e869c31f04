"""Admin forms: they collect input and call mindbox_integration.validation."""

import json
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.forms.fields import InvalidJSONInput
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from core.nesting import MAX_CONFIG_DEPTH, deeper_than
from mindbox_integration import services, validation
from mindbox_integration.mindbox import guard
from mindbox_integration.models import Account, MindboxIntegration, Notification, Operation
from mindbox_integration.selectors import known_mnemonics
from notifications.selectors import arrivals


class MindboxIntegrationForm(forms.ModelForm):  # type: ignore[type-arg]
    """The key is write-only: never rendered back, kept when the field is left blank."""

    new_secret_key = forms.CharField(
        label=_("new secret key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Only if the operation requires it. Leave blank to keep the current key."),
    )
    clear_secret_key = forms.BooleanField(label=_("remove the secret key"), required=False)

    class Meta:
        model = MindboxIntegration
        fields = ["account", "active", "send_rate_limit"]

    @method_decorator(sensitive_variables("key"))
    def clean_new_secret_key(self) -> str:
        key: str = self.cleaned_data.get("new_secret_key", "")
        for message in validation.validate_secret_key(key):
            raise forms.ValidationError(message)
        return key

    def save(self, commit: bool = True) -> MindboxIntegration:
        integration: MindboxIntegration = super().save(commit=False)
        if self.cleaned_data.get("clear_secret_key"):
            services.set_secret_key(integration=integration, key="")
        elif self.cleaned_data.get("new_secret_key"):
            services.set_secret_key(integration=integration, key=self.cleaned_data["new_secret_key"])
        if commit:
            integration.save()
        return integration


class AccountForm(forms.ModelForm):  # type: ignore[type-arg]
    """The account, with its UIS Data API access for reconciliation: the token is write-only,
    like the Mindbox key (never rendered back, kept when left blank)."""

    new_data_api_token = forms.CharField(
        label=_("new UIS Data API token"),
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "A key of a UIS user allowed to read reports (UIS: Account → Users). With it, the portal "
            "checks through UIS's Data API every few minutes for calls and offline requests UIS did not "
            "notify, and sends them to Mindbox. UIS must allow the portal's address (Data API whitelist). "
            "Leave blank to keep the current token."
        ),
    )
    clear_data_api_token = forms.BooleanField(label=_("remove the UIS Data API token"), required=False)

    class Meta:
        model = Account
        fields = ["name", "uis_app_id", "data_api_url", "managers"]
        help_texts = {
            "data_api_url": _(
                "Empty: UIS's own (https://dataapi.uiscom.ru/v2.0); CoMagic's is https://dataapi.comagic.ru/v2.0"
            )
        }

    def clean_data_api_url(self) -> str:
        url: str = (self.cleaned_data.get("data_api_url") or "").strip()
        if not url:
            return url
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise forms.ValidationError(_("Not a URL.")) from None
        scheme = parts.scheme.lower()
        if not guard.scheme_allowed(scheme, require_https=settings.UIS_DATA_API_REQUIRE_HTTPS) or not parts.hostname:
            raise forms.ValidationError(_("The URL must start with https://"))
        if not guard.host_allowed(
            scheme=scheme, host=parts.hostname, port=port, allowed_hosts=settings.UIS_DATA_API_ALLOWED_HOSTS
        ):
            raise forms.ValidationError(
                _("%(host)s is not an allowed Data API host; the administrator sets them (UIS_DATA_API_ALLOWED_HOSTS)")
                % {"host": parts.netloc}
            )
        return url

    @method_decorator(sensitive_variables("token"))
    def clean_new_data_api_token(self) -> str:
        token: str = self.cleaned_data.get("new_data_api_token", "")
        if token and (not token.isascii() or not token.isprintable() or " " in token):
            raise forms.ValidationError(_("The token is printable Latin characters and digits without spaces."))
        return token

    def save(self, commit: bool = True) -> Account:
        account: Account = super().save(commit=False)
        if self.cleaned_data.get("clear_data_api_token"):
            services.set_data_api_token(account=account, token="")
        elif self.cleaned_data.get("new_data_api_token"):
            services.set_data_api_token(account=account, token=self.cleaned_data["new_data_api_token"])
        if commit:
            account.save()
            self.save_m2m()
        return account


class OperationInlineForm(forms.ModelForm):  # type: ignore[type-arg]
    """Operations listed on the integration page, where their notifications are not shown."""

    class Meta:
        model = Operation
        fields = ["name"]

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if self.instance.pk and name != self.instance.name:
            stale = [n.name for n in self.instance.notifications.all() if validation.url_operation(n.url) != name]
            if stale:
                raise forms.ValidationError(
                    _(
                        "notifications %(names)s call operation %(old)s in their URLs; rename the operation "
                        "on its own page and change those URLs in the same save"
                    )
                    % {"names": ", ".join(stale), "old": self.instance.name}
                )
        return name


def editor_labels() -> dict[str, str]:
    """What the notification editor's script says, in the admin's language."""
    return {
        "palette_title": gettext("Mnemonics of %(type)s: a click inserts one at the cursor"),
        "palette_filter": gettext("Find a mnemonic"),
        "palette_keys": gettext(
            "By keyboard: the arrow keys, Home and End move between the mnemonics, Enter inserts one"
        ),
        "no_type": gettext("Choose the communication type to see its mnemonics"),
        "insert": gettext("Insert %(name)s: %(meaning)s"),
        "checking": gettext("Checking…"),
        "check_ok": gettext("Checked: no errors"),
        "check_failed": gettext("Could not check (%(status)s); Save checks again"),
        "problem_at": gettext("line %(line)s, column %(column)s: %(message)s"),
        "problem_at_url": gettext("URL, column %(column)s: %(message)s"),
        "problem_jump": gettext("Go to the place in the field"),
        "insert_into": gettext("Inserts into: %(field)s"),
        "preview_button": gettext("Preview"),
        "preview_values": gettext("Values for the preview"),
        "sample_values": gettext("sample values"),
        "sample_of": gettext("sample: %(value)s"),
        "arrived_of": gettext("in %(count)s of the last %(total)s"),
        "event_values": gettext("event %(event)s"),
        "preview_url": gettext("URL"),
        "preview_headers": gettext("Headers"),
        "preview_body": gettext("Body"),
        "preview_note": gettext(
            "Each delivery gets a transactionId of its own and the integration's key; the body is sent without "
            "indentation."
        ),
        "url_helper_toggle": gettext("Paste the URL from Mindbox…"),
        "url_helper_pasted": gettext("The URL from the operation's settings in Mindbox"),
        "url_helper_endpoint": gettext("Integration point id (endpointId)"),
        "url_helper_device": gettext("Add deviceUUID={{mindbox_device_uuid}} (if the operation requires it)"),
        "url_helper_apply": gettext("Fill in the URL"),
        "url_helper_done": gettext("The URL is filled in; it is checked below"),
        "filters_match": gettext("Conditions are joined by"),
        "match_all": gettext("AND: all conditions"),
        "match_any": gettext("OR: any condition"),
        "field": gettext("Field"),
        "mode": gettext("Mode"),
        "include": gettext("Include"),
        "exclude": gettext("Exclude"),
        "values": gettext("Values, comma-separated"),
        "values_known": gettext("Values"),
        "add_condition": gettext("Add a condition"),
        "remove_condition": gettext("Remove condition %(number)s"),
        "show_json": gettext("Show JSON"),
        "hide_json": gettext("Hide JSON"),
        "no_conditions": gettext("No conditions: every event of this type passes"),
        "filters_raw": gettext("These conditions are written in a form the builder cannot show; edit the JSON"),
        "unknown_field": gettext("%(name)s (unknown field)"),
        "test_send_button": gettext("Test send to Mindbox"),
        "test_send_note": gettext(
            "Sends the preview to Mindbox for real, with the integration's key: with sample values a test customer appears there."
        ),
        "test_sending": gettext("Sending…"),
        "test_send_request": gettext("Request"),
        "test_send_response": gettext("Mindbox's answer"),
        "test_send_fields": gettext("Mindbox's messages by body field"),
        "test_send_delivered": gettext("Accepted by Mindbox"),
        "test_send_failed": gettext("Refused"),
        "test_send_retry": gettext("Temporary failure: a delivery would try again"),
        "test_send_not_sent": gettext("Not sent: %(error)s"),
        "test_send_timing": gettext("HTTP %(status)s, %(ms)s ms"),
        "test_send_template": gettext("in the template: %(template)s"),
    }


class NotificationBodyWidget(forms.Textarea):
    """The body's textarea with the editor under it (notification_editor.js finds it by
    data-editor and reads its endpoints and labels here)."""

    class Media:
        js = ["mindbox_integration/notification_editor.js"]
        css = {"all": ["mindbox_integration/portal.css"]}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context(name, value, attrs)
        context["widget"]["attrs"].update(
            {
                "data-editor": "body",
                "data-palette-url": reverse("admin:mindbox_integration_notification_palette"),
                "data-check-url": reverse("admin:mindbox_integration_notification_check"),
                "data-preview-url": reverse("admin:mindbox_integration_notification_preview"),
                "data-fill-url-url": reverse("admin:mindbox_integration_notification_fill_url"),
                "data-test-send-url": reverse("admin:mindbox_integration_notification_test_send"),
                "data-labels": json.dumps(editor_labels(), ensure_ascii=False),
            }
        )
        return context


class FilterConditionsField(forms.JSONField):
    """Django's JSON field, measuring the text before json.loads: nested too deep it would raise
    RecursionError (a 500) while cleaning, and again while showing the form with its errors."""

    def too_deep(self) -> str:
        return validation.filters_too_deep()

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and deeper_than(value, MAX_CONFIG_DEPTH):
            raise forms.ValidationError(self.too_deep(), code="invalid")
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        if isinstance(data, str) and deeper_than(data, MAX_CONFIG_DEPTH):
            return InvalidJSONInput(data)  # shown back as typed
        return super().bound_data(data, initial)


class HeadersField(FilterConditionsField):
    """The optional headers' JSON, measured before it is parsed like the filter conditions."""

    def too_deep(self) -> str:
        return validation.headers_too_deep()


class NotificationForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Notification
        fields = ["operation", "name", "url", "communication_type", "filters", "body", "headers", "active"]
        field_classes = {"filters": FilterConditionsField, "headers": HeadersField}
        widgets = {
            "url": forms.TextInput(attrs={"class": "vLargeTextField", "size": 110}),
            "body": NotificationBodyWidget(attrs={"rows": 12, "cols": 100, "class": "mono", "spellcheck": "false"}),
            "filters": forms.Textarea(attrs={"rows": 4, "cols": 100, "class": "mono", "spellcheck": "false"}),
            "headers": forms.Textarea(attrs={"rows": 2, "cols": 100, "class": "mono", "spellcheck": "false"}),
        }
        help_texts = {
            "url": _(
                "The operation's URL from Mindbox, with endpointId filled in; deviceUUID={{mindbox_device_uuid}} may be added."
            ),
            "body": _('Mindbox\'s JSON with UIS mnemonics as values: "fullName": {{visitor_name}}'),
            "filters": _(
                'Optional: {"match": "all", "conditions": [{"field": "direction", "mode": "include", "values": ["in"]}]}'
            ),
            "headers": _(
                'Optional, only if the operation\'s spec in Mindbox asks for them: {"User-Agent": "Acme", '
                '"X-Customer-IP": "{{mnemonic}}"}; a header whose value comes out empty is not sent.'
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[str] = []  # what saving put in place of what the user typed
        self.warnings: list[str] = []  # saved, but likely not what was meant
        if self.instance.pk:  # the editor's test send names the notification it was made from
            self.fields["body"].widget.attrs["data-notification"] = str(self.instance.pk)

    def clean_filters(self) -> Any:
        return self.cleaned_data.get("filters") or {}  # an emptied field means no conditions

    def clean_headers(self) -> Any:
        return self.cleaned_data.get("headers") or {}  # an emptied field means none

    def clean_url(self) -> str:
        url, note = validation.fill_url(self.cleaned_data.get("url") or "")
        if note:
            self.notes.append(note)  # the admin says it once the form is saved
        return url

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        try:
            operation: Operation | None = data.get("operation") or self.instance.operation
        except Operation.DoesNotExist:
            operation = None
        ctype = data.get("communication_type")
        if operation is None or operation.integration_id is None or not ctype:
            return data  # the form's own errors (a missing operation or type) say what to fix
        known = known_mnemonics(account_id=operation.integration.account_id, communication_type=ctype)
        errors = validation.notification_errors(
            operation_name=operation.name,
            communication_type=ctype,
            url=data.get("url", ""),
            body=data.get("body", ""),
            filters=data.get("filters"),
            known_mnemonics=known,
            headers=data.get("headers"),
        )
        for field, messages in errors.items():
            for message in messages:
                self.add_error(field, message)
        if not errors:
            self.warnings += validation.filter_warnings(data.get("filters"), communication_type=ctype)
            seen = arrivals(account_id=operation.integration.account_id, communication_type=ctype)
            self.warnings += validation.arrival_warnings(
                url=data.get("url", ""),
                body=data.get("body", ""),
                communication_type=ctype,
                arrived=seen.counts,
                total=seen.total,
            )
        return data
