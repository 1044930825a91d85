from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField
from wtforms.validators import DataRequired, Length


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class TimeZoneForm(FlaskForm):
    # The service checks the name: the browser may send one not in the list ("Etc/UTC").
    time_zone = SelectField("Time zone", validate_choice=False)
